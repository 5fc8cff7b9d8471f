//! Where status callbacks may go.
//!
//! Anyone holding the account's credentials sets a room's `StatusCallback`, and the emulator's
//! seeded credentials are public, so an open destination would let anyone make the emulator
//! POST to any address its machine can reach (the LAN, a router's admin page). By default only
//! this computer is a destination: `localhost`, `127.0.0.0/8` and `::1`. A setting
//! (`emulator.callback_hosts` / `VIDEOROOM_CALLBACK_HOSTS`) adds host names or addresses, or
//! `*` for any. The store refuses other hosts when a room is created (53111, as Twilio refuses
//! a `StatusCallback` it cannot use), and the emulator checks again before each delivery.

use std::net::IpAddr;

/// The hosts status callbacks may be delivered to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackHosts {
    /// Any host (`*`).
    any: bool,
    /// Hosts allowed besides loopback: lowercase names or IP addresses; a leading `.` allows
    /// every subdomain.
    extra: Vec<String>,
}

impl CallbackHosts {
    /// Loopback destinations only (the default).
    pub fn loopback() -> Self {
        Self::default()
    }

    /// Every host.
    pub fn any() -> Self {
        Self {
            any: true,
            extra: Vec::new(),
        }
    }

    /// Loopback plus `hosts`: names (`hooks.example.test`, `.example.test` for every
    /// subdomain), IP addresses (`192.168.1.10`, `[fd00::1]`), or `*` for any host. The error
    /// names the first entry that is none of these.
    pub fn parse<'a>(hosts: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut out = Self::default();
        for raw in hosts {
            let host = raw.trim().to_ascii_lowercase();
            if host == "*" {
                out.any = true;
                continue;
            }
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if bare.parse::<IpAddr>().is_ok() {
                out.extra.push(bare.to_owned());
                continue;
            }
            let name = host.strip_prefix('.').unwrap_or(&host);
            let shaped = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !shaped {
                return Err(format!(
                    "'{raw}' is not a host: give host names (hooks.example.test, or .example.test for its subdomains), IP addresses, or * for any host, without scheme or port"
                ));
            }
            out.extra.push(host.trim_end_matches('.').to_owned());
        }
        Ok(out)
    }

    /// Whether a callback to `url` may be delivered.
    pub fn allows(&self, url: &url::Url) -> bool {
        if self.any {
            return true;
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.trim_end_matches('.').to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => return true,
            Some(url::Host::Ipv6(ip)) if ip.to_canonical().is_loopback() => return true,
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return false,
        };
        if host == "localhost" {
            return true;
        }
        self.extra
            .iter()
            .any(|allowed| match allowed.strip_prefix('.') {
                Some(domain) => host == domain || host.ends_with(allowed.as_str()),
                None => host == *allowed,
            })
    }

    /// What is allowed, as a message says it.
    pub fn describe(&self) -> String {
        if self.any {
            return "any host".to_owned();
        }
        let mut hosts = vec!["localhost, 127.0.0.0/8 and ::1".to_owned()];
        hosts.extend(self.extra.iter().cloned());
        hosts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).expect("a test URL")
    }

    #[test]
    fn by_default_only_loopback_destinations_are_allowed() {
        let hosts = CallbackHosts::loopback();
        for ok in [
            "http://localhost:8080/cb",
            "http://LOCALHOST./cb",
            "http://127.0.0.1/cb",
            "http://127.1.2.3:9/cb",
            "http://[::1]:9/cb",
        ] {
            assert!(hosts.allows(&url(ok)), "{ok}");
        }
        for refused in [
            "http://192.168.1.1/cb",
            "http://10.0.0.1/admin",
            "https://example.test/cb",
            "http://localhost.example.test/cb",
            "http://[fd00::1]/cb",
            "http://169.254.169.254/latest/meta-data",
        ] {
            assert!(!hosts.allows(&url(refused)), "{refused}");
        }
    }

    #[test]
    fn configured_hosts_open_names_addresses_subdomains_or_everything() {
        let hosts = CallbackHosts::parse(["hooks.example.test", "192.168.1.10", ".lan.test"])
            .expect("valid hosts");
        assert!(hosts.allows(&url("https://hooks.example.test/cb")));
        assert!(hosts.allows(&url("http://192.168.1.10:8080/cb")));
        assert!(hosts.allows(&url("http://pc1.lan.test/cb")));
        assert!(!hosts.allows(&url("http://evil-lan.test/cb")));
        assert!(!hosts.allows(&url("http://192.168.1.11/cb")));
        let any = CallbackHosts::parse(["*"]).expect("valid");
        assert!(any.allows(&url("http://192.168.1.11/cb")));
    }

    #[test]
    fn a_bad_entry_is_named_with_the_shape_wanted() {
        let err = CallbackHosts::parse(["https://hooks.example.test/"]).unwrap_err();
        assert!(
            err.contains("'https://hooks.example.test/' is not a host"),
            "{err}"
        );
    }
}
