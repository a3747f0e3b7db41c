//! The search window of a one-shot command: `--time` (local time in the source's zone) and
//! `--time-range` (`10h`: the window is time ± range).

use chrono::NaiveDateTime;

use super::InvestigateError;
use crate::config::{Config, Method, Zone};

const NS: i64 = 1_000_000_000;

/// The zone `--time` is read in: the one the configured source's timestamps are in.
pub fn zone_for(cfg: &Config) -> Result<Zone, InvestigateError> {
    let (key, text) = match cfg.method {
        Method::Opensearch => (
            "opensearch_config.time_zone",
            &cfg.opensearch_config.time_zone,
        ),
        Method::File => ("file_config.time_zone", &cfg.file_config.time_zone),
        Method::Ssh => ("ssh_config.time_zone", &cfg.ssh_config.time_zone),
    };
    text.parse()
        .map_err(|e| InvestigateError::Config(format!("{key}: {e}")))
}

/// `YYYY-MM-DD HH:MM:SS` (also with `T`, or without seconds) as local time in `zone`, to UTC
/// nanoseconds.
pub fn parse_time(text: &str, zone: &Zone) -> Result<i64, InvestigateError> {
    let t = text.trim();
    let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .ok_or_else(|| {
            InvestigateError::BadInput(format!(
                "malformed time {text:?}: expected \"YYYY-MM-DD HH:MM:SS\" (local time)"
            ))
        })?;
    let local_secs = local.and_utc().timestamp();
    zone.local_epoch_to_utc(local_secs)
        .checked_mul(NS)
        .ok_or_else(|| InvestigateError::BadInput(format!("time {text:?} is out of range")))
}

/// `30s`, `15m`, `10h`, `2d` (a bare number is seconds) to nanoseconds; must be positive.
pub fn parse_range(text: &str) -> Result<i64, InvestigateError> {
    let t = text.trim();
    let bad = || {
        InvestigateError::BadInput(format!(
            "malformed time range {text:?}: expected a positive number with a unit s, m, h or d \
             (e.g. 10h)"
        ))
    };
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let unit_s = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    n.checked_mul(unit_s)
        .and_then(|s| s.checked_mul(NS))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_in_the_configured_zone() {
        let utc: Zone = "UTC".parse().unwrap();
        let plus8: Zone = "+08:00".parse().unwrap();
        let t = parse_time("2026-02-04 08:00:00", &utc).unwrap();
        assert_eq!(t, 1_770_192_000 * NS);
        assert_eq!(
            parse_time("2026-02-04 16:00:00", &plus8).unwrap(),
            t,
            "16:00 at +08:00 is 08:00 UTC"
        );
        assert_eq!(parse_time("2026-02-04T08:00:00", &utc).unwrap(), t);
        for bad in [
            "",
            "yesterday",
            "2026-02-30 08:00:00",
            "2026-02-04 25:00:00",
        ] {
            let e = parse_time(bad, &utc).unwrap_err().to_string();
            assert!(e.contains("malformed time"), "{bad}: {e}");
        }
    }

    #[test]
    fn ranges_with_units() {
        assert_eq!(parse_range("10h").unwrap(), 36_000 * NS);
        assert_eq!(parse_range("30").unwrap(), 30 * NS);
        assert_eq!(parse_range("2d").unwrap(), 172_800 * NS);
        assert_eq!(parse_range("15m").unwrap(), 900 * NS);
        for bad in ["", "h", "0h", "-1h", "10x", "1.5h", "99999999999999999d"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }
}
