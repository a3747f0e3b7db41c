//! A real OpenSSH server for tests: Debian's `/usr/sbin/sshd`, started per test on a free
//! loopback port with its own host key, one authorized client key, and a client config +
//! known_hosts file that name it. Logins are as `mailtrace-test`, the user
//! `.ci/install-test-peers` creates with sudo rights for grep (password required).
//! Needs root (sshd must switch users); without its prerequisites a test fails and says why.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TEST_USER: &str = "mailtrace-test";
const SUDO_PASSWORD_FILE: &str = "/var/lib/mailtrace-test/sudo-password";
const HINT: &str = "run .ci/install-test-peers as root (installs openssh-server, sudo and \
                    the mailtrace-test user)";

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// `ssh -F` file: every alias given to `start` reaches this server.
    pub client_config: PathBuf,
    pub known_hosts: PathBuf,
}

/// The sudo password of `mailtrace-test` (random, written by install-test-peers).
pub fn sudo_password() -> String {
    std::fs::read_to_string(SUDO_PASSWORD_FILE)
        .unwrap_or_else(|e| panic!("{SUDO_PASSWORD_FILE}: {e}; {HINT}"))
        .trim()
        .to_string()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Sshd {
    /// Starts sshd; `aliases` are the host names the client config maps to it.
    pub fn start(aliases: &[&str]) -> Sshd {
        // sshd can only switch to the test user when started as root.
        let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
        assert_eq!(
            uid.trim(),
            "0",
            "the SSH tests run sshd and need root; {HINT}"
        );
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "no /usr/sbin/sshd; {HINT}"
        );
        let id = Command::new("id").arg(TEST_USER).output().unwrap();
        assert!(id.status.success(), "no user {TEST_USER}; {HINT}");

        let dir = tempfile::tempdir().unwrap();
        // sshd reads the authorized keys as the user: the directory must be open to it.
        chmod(dir.path(), 0o755);
        let p = |n: &str| dir.path().join(n);
        for key in ["host_key", "client_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(p(key)));
        }
        std::fs::copy(p("client_key.pub"), p("authorized_keys")).unwrap();
        chmod(&p("authorized_keys"), 0o644);
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        std::fs::write(
            p("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\n\
                 UsePAM no\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 AllowUsers {TEST_USER}\n",
                hk = p("host_key").display(),
                ak = p("authorized_keys").display(),
                pid = p("sshd.pid").display(),
            ),
        )
        .unwrap();
        // Debian's sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(p("sshd_config"))
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }

        let host_pub = std::fs::read_to_string(p("host_key.pub")).unwrap();
        let mut fields = host_pub.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(
            p("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .unwrap();
        std::fs::write(
            p("ssh_client_config"),
            format!(
                "Host {aliases}\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {key}\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n",
                aliases = aliases.join(" "),
                key = p("client_key").display(),
                kh = p("known_hosts").display(),
            ),
        )
        .unwrap();
        Sshd {
            child,
            port,
            client_config: p("ssh_client_config"),
            known_hosts: p("known_hosts"),
            dir,
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
