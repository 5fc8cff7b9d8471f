//! HTTPS for the LAN workshop (issue 10): the certificate and the rustls configuration.
//!
//! Browsers give the camera only to pages of a secure context: `https://`, or `http://` on
//! `localhost`. An attendee's phone or second laptop opens the instructor's laptop by its LAN
//! address, so the page must come over HTTPS. With `--https` (or `--lan`) and no certificate
//! given, videoroom makes a self-signed one ([`self_signed`]) naming `localhost`, `127.0.0.1`,
//! `::1`, this machine's host names and every non-loopback address it has, keeps it in the
//! platform's cache folder and reuses it across restarts, so attendees who accepted the warning
//! once do not see it again; it is made anew when the set of names changes (the laptop joined
//! another network) or when it is about to expire. `--tls-cert` and `--tls-key` use a given
//! certificate instead, such as one made by `mkcert`, which browsers then trust without a
//! warning.
//!
//! Only the ring provider of rustls is built (the one reqwest already uses), and it is named
//! explicitly, so a second provider pulled in by another crate can never make rustls refuse to
//! choose one.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};

/// How long a generated certificate is valid. A year keeps it under every browser's limit for
/// certificates a user trusts by hand (825 days on Apple systems).
const VALIDITY: Duration = Duration::days(365);
/// A certificate that expires sooner than this is made anew at start-up rather than reused, so
/// that it does not expire in the middle of a workshop.
const RENEW_BEFORE: Duration = Duration::days(14);
/// The files of a generated certificate, in the cache folder.
const CERT_FILE: &str = "videoroom-cert.pem";
const KEY_FILE: &str = "videoroom-key.pem";
/// The names the cached certificate was made for and when it expires: compared at start-up
/// to decide whether it can be reused.
const NAMES_FILE: &str = "videoroom-cert.names";

/// A certificate problem: each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path} ({flag}): {reason}; give a PEM file such as mkcert's localhost+2.pem")]
    Certificate {
        path: PathBuf,
        flag: &'static str,
        reason: String,
    },
    #[error("cannot read the TLS private key {path} ({flag}): {reason}; give the PEM key file made with the certificate, such as mkcert's localhost+2-key.pem")]
    Key {
        path: PathBuf,
        flag: &'static str,
        reason: String,
    },
    #[error("the TLS certificate and private key do not go together ({0}); give the key file made with this certificate")]
    Mismatch(String),
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("cannot keep the self-signed certificate in {dir}: {source}; make the folder writable, or give a certificate with --tls-cert and --tls-key")]
    Cache {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the served certificate came from, for the banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// Made by videoroom; `reused` when the cached one still fit.
    SelfSigned { dir: PathBuf, reused: bool },
    /// The files given with `--tls-cert` and `--tls-key`.
    Files { cert: PathBuf },
}

/// A certificate ready to serve.
#[derive(Debug, Clone)]
pub struct Served {
    /// The rustls configuration actix-web serves with.
    pub config: rustls::ServerConfig,
    /// SHA-256 of the leaf certificate, as browsers show it (`AB:CD:…`).
    pub fingerprint: String,
    pub source: CertSource,
}

/// The names a generated certificate must hold: the localhost names, `host_names` and
/// `addresses` (without duplicates, in that order).
pub fn subject_names(host_names: &[String], addresses: &[IpAddr]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for name in host_names
        .iter()
        .cloned()
        .chain(addresses.iter().map(IpAddr::to_string))
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// This machine's non-loopback addresses, as the certificate and the banner need them. IPv6
/// link-local addresses (`fe80::`) are left out: a browser cannot open a URL with one (it needs
/// a zone index, which URLs do not carry).
pub fn machine_addresses() -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|interface| interface.ip())
        .filter(|ip| usable_lan_address(*ip))
        .collect();
    addresses.sort_by_key(|ip| (lan_rank(*ip), *ip));
    addresses.dedup();
    addresses
}

/// The order addresses are listed in, most likely the venue's network first: home and office
/// Wi-Fi ranges (192.168/16, then 10/8), then 172.16/12 (where Docker's bridges also live),
/// then other IPv4, then IPv6. The first one is the banner's main URL and QR code.
fn lan_rank(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v4) => match v4.octets() {
            [192, 168, ..] => 0,
            [10, ..] => 1,
            [172, second, ..] if (16..32).contains(&second) => 2,
            _ => 3,
        },
        IpAddr::V6(_) => 4,
    }
}

/// Whether another device could reach this machine at `ip`.
fn usable_lan_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified() && !v4.is_link_local(),
        IpAddr::V6(v6) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// The folder generated certificates are kept in: `videoroom/tls` in the platform's cache
/// folder (`~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows), the
/// same place the SDK cache falls back to; `.cache/videoroom/tls` when there is no home folder.
pub fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .map(|dir| dir.join("videoroom"))
        .unwrap_or_else(|| PathBuf::from(".cache").join("videoroom"))
        .join("tls")
}

/// The self-signed certificate for `names` in `dir`: the cached one when it was made for
/// exactly these names and is not about to expire, else a new one (written there for the next
/// start). The private key file is readable by its owner only.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<Served, TlsError> {
    self_signed_at(dir, names, OffsetDateTime::now_utc())
}

/// [`self_signed`] at a given time, so the renewal rule can be tested.
pub fn self_signed_at(
    dir: &Path,
    names: &[String],
    now: OffsetDateTime,
) -> Result<Served, TlsError> {
    let wanted = names_record(names);
    if let Some(served) = cached(dir, &wanted, now) {
        return Ok(served);
    }
    let cache_error = |source| TlsError::Cache {
        dir: dir.to_path_buf(),
        source,
    };
    let key = KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut params =
        CertificateParams::new(names.to_vec()).map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "videoroom");
    dn.push(DnType::CommonName, "videoroom workshop (self-signed)");
    params.distinguished_name = dn;
    // A day of margin for devices whose clocks run a little behind the instructor's laptop.
    params.not_before = now - Duration::days(1);
    params.not_after = now + VALIDITY;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;

    std::fs::create_dir_all(dir).map_err(cache_error)?;
    write_private(&dir.join(KEY_FILE), key.serialize_pem().as_bytes()).map_err(cache_error)?;
    std::fs::write(dir.join(CERT_FILE), cert.pem()).map_err(cache_error)?;
    let record = format!("{wanted}not_after {}\n", params.not_after.unix_timestamp());
    std::fs::write(dir.join(NAMES_FILE), record).map_err(cache_error)?;

    let der = cert.der().clone();
    let key = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok(Served {
        fingerprint: fingerprint(&der),
        config: server_config(vec![der], key)?,
        source: CertSource::SelfSigned {
            dir: dir.to_path_buf(),
            reused: false,
        },
    })
}

/// The cached certificate, when it was made for `wanted` and stays valid long enough.
fn cached(dir: &Path, wanted: &str, now: OffsetDateTime) -> Option<Served> {
    let record = std::fs::read_to_string(dir.join(NAMES_FILE)).ok()?;
    let (names, not_after) = record.rsplit_once("not_after ")?;
    let not_after = OffsetDateTime::from_unix_timestamp(not_after.trim().parse().ok()?).ok()?;
    if names != wanted || not_after - now < RENEW_BEFORE {
        return None;
    }
    let (certs, key) = read_pair(
        &dir.join(CERT_FILE),
        "cached",
        &dir.join(KEY_FILE),
        "cached",
    )
    .ok()?;
    let fingerprint = fingerprint(certs.first()?);
    Some(Served {
        config: server_config(certs, key).ok()?,
        fingerprint,
        source: CertSource::SelfSigned {
            dir: dir.to_path_buf(),
            reused: true,
        },
    })
}

/// The names as the record file holds them, one a line.
fn names_record(names: &[String]) -> String {
    names.iter().fold(String::new(), |mut out, name| {
        let _ = writeln!(out, "name {name}");
        out
    })
}

/// Writes a private key readable by its owner only (on Unix; Windows keeps the per-user
/// permissions of the cache folder).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        // Removed first, so that an older file with wider permissions is not reused.
        let _ = std::fs::remove_file(path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes)
    }
}

/// The certificate and key given with `--tls-cert` and `--tls-key`.
pub fn from_files(cert: &Path, key: &Path) -> Result<Served, TlsError> {
    let (certs, key) = read_pair(cert, "--tls-cert", key, "--tls-key")?;
    let fingerprint = fingerprint(&certs[0]);
    Ok(Served {
        config: server_config(certs, key)?,
        fingerprint,
        source: CertSource::Files {
            cert: cert.to_path_buf(),
        },
    })
}

/// A certificate chain (leaf first) and its private key, from PEM files.
fn read_pair(
    cert_path: &Path,
    cert_flag: &'static str,
    key_path: &Path,
    key_flag: &'static str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let cert_error = |reason: String| TlsError::Certificate {
        path: cert_path.to_path_buf(),
        flag: cert_flag,
        reason,
    };
    let cert_text = std::fs::read(cert_path).map_err(|e| cert_error(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_error(
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key_error = |reason: String| TlsError::Key {
        path: key_path.to_path_buf(),
        flag: key_flag,
        reason,
    };
    let key_text = std::fs::read(key_path).map_err(|e| key_error(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|e| {
        key_error(format!(
            "{e} (expected -----BEGIN PRIVATE KEY----- or an RSA/EC key)"
        ))
    })?;
    Ok((certs, key))
}

/// The rustls server configuration for one certificate chain, with the ring provider.
fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Generate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))
}

/// SHA-256 of a certificate in the form browsers show (`AB:CD:…`, 32 bytes).
pub fn fingerprint(der: &CertificateDer<'_>) -> String {
    Sha256::digest(der.as_ref())
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::{FromDer as _, X509Certificate};

    use super::*;

    fn names() -> Vec<String> {
        subject_names(
            &["laptop.local".into(), "laptop".into()],
            &[
                IpAddr::V4(Ipv4Addr::new(192, 168, 1, 23)),
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x23)),
            ],
        )
    }

    fn cached_der(dir: &Path) -> Vec<u8> {
        let pem = std::fs::read(dir.join(CERT_FILE)).expect("the certificate was written");
        CertificateDer::from_pem_slice(&pem)
            .expect("the written certificate is PEM")
            .to_vec()
    }

    #[test]
    fn the_generated_certificate_names_every_address_and_lasts_a_year() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let now = OffsetDateTime::now_utc();
        let served = self_signed_at(dir.path(), &names(), now).expect("a certificate");
        assert_eq!(
            served.source,
            CertSource::SelfSigned {
                dir: dir.path().to_path_buf(),
                reused: false
            }
        );

        let der = cached_der(dir.path());
        let (_, cert) = X509Certificate::from_der(&der).expect("valid DER");
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        let san = cert
            .subject_alternative_name()
            .expect("a well-formed extension")
            .expect("a SAN extension");
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(name) => dns.push((*name).to_owned()),
                GeneralName::IPAddress(bytes) => ips.push(match bytes.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes")),
                    _ => IpAddr::from(<[u8; 16]>::try_from(*bytes).expect("16 bytes")),
                }),
                other => panic!("unexpected SAN {other:?}"),
            }
        }
        assert_eq!(dns, ["localhost", "laptop.local", "laptop"]);
        assert_eq!(
            ips,
            [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::new(192, 168, 1, 23)),
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x23)),
            ]
        );
        // Valid from a day before now (clocks of other devices lag) for a year.
        let validity = cert.validity();
        let not_before = validity.not_before.timestamp();
        let not_after = validity.not_after.timestamp();
        assert!(
            (not_before - (now - Duration::days(1)).unix_timestamp()).abs() <= 1,
            "{not_before}"
        );
        assert!(
            (not_after - (now + VALIDITY).unix_timestamp()).abs() <= 1,
            "{not_after}"
        );
        assert!(validity.is_valid(), "valid now");
        // A server certificate, not a CA: browsers refuse a CA certificate as a leaf.
        assert!(!cert.is_ca());
        // The fingerprint is of this very certificate.
        assert_eq!(
            served.fingerprint,
            fingerprint(&CertificateDer::from(der.clone()))
        );
        assert_eq!(served.fingerprint.len(), 32 * 3 - 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_private_key_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("a scratch folder");
        self_signed(dir.path(), &names()).expect("a certificate");
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .expect("the key was written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_certificate_is_reused_until_the_names_change_or_it_nears_its_end() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let now = OffsetDateTime::now_utc();
        let first = self_signed_at(dir.path(), &names(), now).expect("a certificate");
        let first_der = cached_der(dir.path());

        // A restart with the same addresses serves the same certificate.
        let again = self_signed_at(dir.path(), &names(), now + Duration::days(30))
            .expect("the cached certificate");
        assert_eq!(again.fingerprint, first.fingerprint);
        assert!(matches!(
            again.source,
            CertSource::SelfSigned { reused: true, .. }
        ));
        assert_eq!(cached_der(dir.path()), first_der);

        // Another network: a new address, so a new certificate that names it.
        let mut moved = names();
        moved.push("10.0.0.7".into());
        let renamed = self_signed_at(dir.path(), &moved, now).expect("a new certificate");
        assert_ne!(renamed.fingerprint, first.fingerprint);
        assert!(matches!(
            renamed.source,
            CertSource::SelfSigned { reused: false, .. }
        ));

        // Close to expiry: made anew rather than left to expire during a workshop.
        let late = now + VALIDITY - Duration::days(7);
        let renewed = self_signed_at(dir.path(), &moved, late).expect("a renewed certificate");
        assert_ne!(renewed.fingerprint, renamed.fingerprint);

        // A damaged cache is replaced, not fatal.
        std::fs::write(dir.path().join(CERT_FILE), "not a certificate").expect("write");
        let repaired = self_signed_at(dir.path(), &moved, late).expect("a repaired certificate");
        assert!(matches!(
            repaired.source,
            CertSource::SelfSigned { reused: false, .. }
        ));
    }

    #[test]
    fn given_files_are_used_and_bad_ones_are_named_with_their_flag() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let made = self_signed(dir.path(), &names()).expect("a certificate");
        let cert = dir.path().join(CERT_FILE);
        let key = dir.path().join(KEY_FILE);
        let served = from_files(&cert, &key).expect("the pair loads");
        assert_eq!(served.fingerprint, made.fingerprint);
        assert_eq!(served.source, CertSource::Files { cert: cert.clone() });

        let missing = dir.path().join("nope.pem");
        let err = from_files(&missing, &key)
            .expect_err("no such file")
            .to_string();
        assert!(
            err.contains("--tls-cert") && err.contains("nope.pem"),
            "{err}"
        );
        let err = from_files(&key, &key)
            .expect_err("a key is not a certificate")
            .to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
        let err = from_files(&cert, &cert)
            .expect_err("a certificate is not a key")
            .to_string();
        assert!(err.contains("--tls-key"), "{err}");

        // A key of another certificate.
        let other = tempfile::tempdir().expect("a scratch folder");
        self_signed(other.path(), &names()).expect("another certificate");
        let err = from_files(&cert, &other.path().join(KEY_FILE))
            .expect_err("a mismatched pair")
            .to_string();
        assert!(err.contains("do not go together"), "{err}");
    }

    #[test]
    fn link_local_and_loopback_addresses_are_not_lan_addresses() {
        assert!(!usable_lan_address("127.0.0.1".parse().expect("ip")));
        assert!(!usable_lan_address("169.254.3.4".parse().expect("ip")));
        assert!(!usable_lan_address("fe80::1".parse().expect("ip")));
        assert!(!usable_lan_address("::1".parse().expect("ip")));
        assert!(usable_lan_address("192.168.0.10".parse().expect("ip")));
        assert!(usable_lan_address("fd00::10".parse().expect("ip")));
        assert!(machine_addresses().iter().all(|ip| !ip.is_loopback()));
        let mut ranked: Vec<IpAddr> = [
            "fd00::1",
            "172.17.0.1",
            "10.0.0.2",
            "192.168.1.9",
            "8.8.4.4",
        ]
        .iter()
        .map(|ip| ip.parse().expect("ip"))
        .collect();
        ranked.sort_by_key(|ip| (lan_rank(*ip), *ip));
        let shown: Vec<String> = ranked.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "192.168.1.9",
                "10.0.0.2",
                "172.17.0.1",
                "8.8.4.4",
                "fd00::1"
            ]
        );
    }
}
