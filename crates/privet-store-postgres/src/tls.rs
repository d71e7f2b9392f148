//! TLS to the database with rustls (ring provider), chosen by the URL's `sslmode`.
//!
//! tokio-postgres only knows `disable`, `prefer` and `require`, and its `prefer` silently falls
//! back to plaintext. So the mode is taken out of the URL here and decided by Privet:
//!
//! | `sslmode` | Privet |
//! |---|---|
//! | unset | no TLS when every host is a Unix socket or a loopback address (the traffic never leaves the machine); otherwise as `verify-full` |
//! | `disable` | no TLS |
//! | `allow`, `prefer` | as `verify-full`: never a silent downgrade to plaintext |
//! | `require`, `verify-ca` | TLS; the certificate chain must verify (the host name is not checked) |
//! | `verify-full` | TLS; the chain and the host name must verify |
//!
//! Certificates verify against the system's roots plus an optional CA file (PEM). An
//! unverified certificate is never accepted. As in libpq, `sslmode` does not apply to Unix
//! sockets, which PostgreSQL never encrypts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use privet_store::StoreError;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How a connection is secured, once decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// Plaintext (Unix socket, loopback, or `sslmode=disable`).
    None,
    /// TLS, certificate chain verified, host name not checked.
    VerifyCa,
    /// TLS, certificate chain and host name verified.
    VerifyFull,
}

/// A parsed connection string: the tokio-postgres config, how to secure it, and the CA file
/// the URL names (`sslrootcert`, as in libpq; `system` means the system's roots only).
pub(crate) struct Parsed {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) security: Security,
    pub(crate) root_cert: Option<PathBuf>,
}

/// Parses `url` (a `postgres://` URL or a libpq key=value string) after taking its TLS
/// settings (`sslmode`, `sslrootcert`) out, and decides how to secure the connection.
pub(crate) fn parse(url: &str) -> Result<Parsed, StoreError> {
    let (rest, mut tls) = split_tls_settings(url)?;
    let mode = tls.remove("sslmode");
    let root_cert = tls
        .remove("sslrootcert")
        .filter(|f| f != "system")
        .map(PathBuf::from);
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
    let security = decide(mode.as_deref(), &config)?;
    config.ssl_mode(match security {
        Security::None => SslMode::Disable,
        Security::VerifyCa | Security::VerifyFull => SslMode::Require,
    });
    Ok(Parsed {
        config,
        security,
        root_cert,
    })
}

fn decide(mode: Option<&str>, config: &tokio_postgres::Config) -> Result<Security, StoreError> {
    let (hosts, addrs) = (config.get_hosts(), config.get_hostaddrs());
    // Where each connection attempt really goes: a `hostaddr` wins over its `host`.
    let n = hosts.len().max(addrs.len());
    let unix = (0..n)
        .filter(|&i| addrs.get(i).is_none() && hosts.get(i).is_some_and(is_unix))
        .count();
    let all_unix = n > 0 && unix == n;
    let all_local = (0..n).all(|i| match (addrs.get(i), hosts.get(i)) {
        (Some(a), _) => a.is_loopback(),
        (None, Some(h)) => is_unix(h) || is_loopback(h),
        (None, None) => true,
    });
    let wanted = match mode {
        None => {
            if all_local {
                Security::None
            } else {
                Security::VerifyFull
            }
        }
        Some("disable") => Security::None,
        Some("allow" | "prefer" | "verify-full") => Security::VerifyFull,
        Some("require" | "verify-ca") => Security::VerifyCa,
        Some(other) => {
            return Err(StoreError::Backend(format!(
                "invalid database URL: unknown sslmode `{other}` (disable, prefer, require, verify-ca, verify-full)"
            )));
        }
    };
    if wanted == Security::None || all_unix {
        return Ok(Security::None);
    }
    if unix > 0 {
        return Err(StoreError::Backend(
            "invalid database URL: TLS is required but some hosts are Unix sockets (which \
             PostgreSQL never encrypts); list only TCP hosts, or set sslmode=disable"
                .into(),
        ));
    }
    Ok(wanted)
}

fn is_unix(h: &Host) -> bool {
    !matches!(h, Host::Tcp(_))
}

fn is_loopback(h: &Host) -> bool {
    match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => true,
    }
}

/// The rustls connector for `security` (which must not be `None`): the system's roots plus
/// the certificates of each of `ca_files`.
pub(crate) fn connector(
    security: Security,
    ca_files: &[&Path],
) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "skipped part of the system certificate store");
    }
    let (_, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "skipped unparsable system root certificates");
    }
    for &path in ca_files {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                StoreError::Backend(format!("cannot read CA file {}: {e}", path.display()))
            })?;
        if certs.is_empty() {
            return Err(StoreError::Backend(format!(
                "CA file {} holds no PEM certificate",
                path.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| StoreError::Backend(format!("CA file {}: {e}", path.display())))?;
        }
    }
    if roots.is_empty() {
        return Err(StoreError::Backend(
            "TLS to the database needs a trusted CA: the system has no root certificates; set \
             store.ca_file (PRIVET_STORE_CA_FILE) to the CA that signed the server's certificate"
                .into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| StoreError::Backend(format!("TLS setup: {e}")))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS setup: {e}")))?;
    let config = match security {
        Security::VerifyCa => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
            .with_no_client_auth(),
        Security::VerifyFull | Security::None => {
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// `verify-ca`: the full WebPKI verification (chain, validity, key usage, signatures), except
/// that a certificate issued for another host name is accepted.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name is checked last, after the chain: a name error means the chain verified.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The settings Privet handles itself rather than tokio-postgres.
const TLS_KEYS: [&str; 2] = ["sslmode", "sslrootcert"];

/// Splits the TLS settings out of a connection string, returning the rest unchanged.
fn split_tls_settings(url: &str) -> Result<(String, HashMap<&'static str, String>), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), HashMap::new()));
        };
        let mut found = HashMap::new();
        let mut kept = Vec::new();
        for part in query.split('&') {
            let key = part.split_once('=').and_then(|(k, v)| {
                let k = TLS_KEYS.into_iter().find(|t| *t == k)?;
                Some((k, percent_decode(v)))
            });
            match key {
                Some((k, v)) => {
                    found.insert(
                        k,
                        v.ok_or_else(|| {
                            StoreError::Backend(format!(
                                "invalid database URL: bad %-escape in {k}"
                            ))
                        })?,
                    );
                }
                None => kept.push(part),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, found));
    }
    // libpq key=value: `key = value`, values optionally single-quoted with backslash escapes.
    let bytes = url.as_bytes();
    let (mut i, mut found, mut kept) = (0, HashMap::new(), Vec::new());
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let bad = || StoreError::Backend("invalid database URL: malformed key=value string".into());
    loop {
        skip_ws(&mut i);
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &url[start..i];
        skip_ws(&mut i);
        if bytes.get(i) != Some(&b'=') {
            return Err(bad());
        }
        i += 1;
        skip_ws(&mut i);
        let mut value = Vec::new();
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(bad()),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        value.push(bytes[i + 1]);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
        }
        match TLS_KEYS.into_iter().find(|t| *t == key) {
            Some(k) => {
                found.insert(k, String::from_utf8(value).map_err(|_| bad())?);
            }
            None => kept.push(&url[start..i]),
        }
    }
    Ok((kept.join(" "), found))
}

/// Decodes `%XX` escapes of a URL query value; `None` if one is malformed.
fn percent_decode(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = v.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(url: &str) -> Security {
        parse(url).unwrap().security
    }

    fn split(url: &str) -> (String, Option<String>, Option<String>) {
        let (rest, mut found) = split_tls_settings(url).unwrap();
        (rest, found.remove("sslmode"), found.remove("sslrootcert"))
    }

    #[test]
    fn tls_settings_are_taken_out_of_both_url_forms() {
        let (rest, mode, _) = split("postgres://u:p@db/x?sslmode=verify-full&application_name=a");
        assert_eq!(
            (rest.as_str(), mode.as_deref()),
            (
                "postgres://u:p@db/x?application_name=a",
                Some("verify-full")
            )
        );
        let (rest, mode, root) =
            split("postgresql://db/x?sslmode=require&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root.as_deref()),
            ("postgresql://db/x", Some("require"), Some("/etc/ca.pem"))
        );
        let (rest, mode, root) = split(
            "host=db password='a b\\'c' sslmode = verify-ca dbname=x sslrootcert='/my ca.pem'",
        );
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root.as_deref()),
            (
                "host=db password='a b\\'c' dbname=x",
                Some("verify-ca"),
                Some("/my ca.pem")
            )
        );
        let (_, mode, _) = split("host=db sslmode='disable'");
        assert_eq!(mode.as_deref(), Some("disable"));
        assert!(split_tls_settings("host=db password='unterminated").is_err());
        assert!(split_tls_settings("host db").is_err());
        assert!(split_tls_settings("postgres://db/x?sslrootcert=%zz").is_err());
        let root = |url: &str| parse(url).unwrap().root_cert;
        assert_eq!(
            root("host=db sslrootcert=/ca.pem"),
            Some(PathBuf::from("/ca.pem"))
        );
        assert_eq!(root("host=db sslrootcert=system"), None);
    }

    #[test]
    fn the_default_is_plaintext_only_for_sockets_and_loopback() {
        assert_eq!(
            security("host=/var/run/postgresql dbname=x"),
            Security::None
        );
        assert_eq!(security("host=localhost dbname=x"), Security::None);
        assert_eq!(security("host=127.0.0.1 dbname=x"), Security::None);
        assert_eq!(security("postgres://[::1]/x"), Security::None);
        assert_eq!(security("host=db.internal dbname=x"), Security::VerifyFull);
        assert_eq!(security("postgres://10.0.0.5/x"), Security::VerifyFull);
        // The address actually dialled decides, not the name.
        assert_eq!(
            security("host=db.internal hostaddr=127.0.0.1 dbname=x"),
            Security::None
        );
        assert_eq!(
            security("host=localhost hostaddr=10.1.1.1 dbname=x"),
            Security::VerifyFull
        );
    }

    #[test]
    fn explicit_modes_never_downgrade_silently() {
        for (mode, want) in [
            ("disable", Security::None),
            ("allow", Security::VerifyFull),
            ("prefer", Security::VerifyFull),
            ("require", Security::VerifyCa),
            ("verify-ca", Security::VerifyCa),
            ("verify-full", Security::VerifyFull),
        ] {
            assert_eq!(
                security(&format!("host=localhost sslmode={mode}")),
                want,
                "{mode}"
            );
            let config = parse(&format!("postgres://db/x?sslmode={mode}"))
                .unwrap()
                .config;
            let expected = if want == Security::None {
                SslMode::Disable
            } else {
                SslMode::Require
            };
            assert_eq!(config.get_ssl_mode(), expected, "{mode}");
        }
        assert!(parse("host=db sslmode=sometimes").is_err());
        // Unix sockets are never encrypted: sslmode does not apply to them (as in libpq).
        assert_eq!(security("host=/run/pg sslmode=verify-full"), Security::None);
        assert!(parse("host=/run/pg,db.internal sslmode=require").is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("privet-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let err = connector(Security::VerifyFull, &[&dir]).err().unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
        let err = connector(Security::VerifyFull, &[Path::new("/nonexistent/ca.pem")])
            .err()
            .unwrap();
        assert!(err.to_string().contains("cannot read CA file"), "{err}");
    }
}
