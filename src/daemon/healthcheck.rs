//! A client for the daemon's own `/healthz`, for `mailtrace healthcheck`: container images
//! without curl or wget can still have a `HEALTHCHECK`. Plain blocking `TcpStream`, one
//! HTTP/1.0 GET, success only on a `200` status line.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where to connect for a listen address: a wildcard (`0.0.0.0`, `[::]`) becomes the
/// loopback address of the same family, since the daemon listens on every interface.
pub fn connect_addrs(listen: &str) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| format!("bad address {listen:?}: {e}"))?
        .map(|mut a| {
            if a.ip().is_unspecified() {
                a.set_ip(match a.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                });
            }
            a
        })
        .collect();
    if addrs.is_empty() {
        return Err(format!("address {listen:?} resolves to nothing"));
    }
    Ok(addrs)
}

/// GET `/healthz` at `listen` (a `tracing.metrics_address`). `Ok` only for HTTP 200.
pub fn probe(listen: &str, timeout: Duration) -> Result<(), String> {
    let mut last = String::new();
    for addr in connect_addrs(listen)? {
        match probe_one(addr, timeout) {
            Ok(()) => return Ok(()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

fn probe_one(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(timeout))
        .and_then(|()| sock.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    sock.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .map_err(|e| format!("sending the request: {e}"))?;
    // The status line is all we need; read until it is complete or the peer closes.
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 4096 {
        let n = sock
            .read(&mut chunk)
            .map_err(|e| format!("reading the reply: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let status = text.lines().next().unwrap_or("").trim();
    let mut parts = status.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some("200")) if v.starts_with("HTTP/") => Ok(()),
        _ if status.is_empty() => Err("no reply".to_string()),
        _ => Err(format!("unhealthy reply: {status}")),
    }
}
