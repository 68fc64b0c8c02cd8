//! Layer 3, beside [`crate::server`]: TLS for a listener. [`Tls`] reads a PEM certificate chain
//! and private key once at startup and again on [`Tls::reload`] (SIGHUP); the
//! [`server`](crate::server) runs its handshake on each accepted connection (rustls with the
//! `ring` provider, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`) before the first request head is
//! read, and hands the decrypted stream to hyper. It knows files and TLS only: no app, no
//! HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// The ALPN protocols a TLS listener offers, most preferred first: HTTP/2, then HTTP/1.1
/// (RFC 7301; the identifiers are those of the IANA registry).
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Where a listener's certificate and key live: PEM files (they may be one file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first: one or more `CERTIFICATE` blocks.
    pub cert: PathBuf,
    /// The private key of the leaf: the first `PRIVATE KEY` (PKCS #8), `RSA PRIVATE KEY`
    /// (PKCS #1) or `EC PRIVATE KEY` (SEC 1) block.
    pub key: PathBuf,
}

/// A listener's TLS: the acceptor its connections go through and the certificate it presents,
/// which [`Tls::reload`] replaces for the handshakes that start after it. Cloning shares both.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    certificate: Arc<Certificate>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.certificate.files)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate chain and key of `files` and makes the server configuration:
    /// TLS 1.2 and 1.3 with rustls' safe defaults, no client certificates, ALPN
    /// [`ALPN_PROTOCOLS`].
    ///
    /// # Errors
    /// A file cannot be read, holds no certificate or no private key, is not valid PEM, the
    /// key is of a kind rustls cannot sign with, or the key is not the certificate's. Each
    /// error names the file; none shows key material.
    pub fn load(files: TlsFiles) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = read_certified_key(&files, &provider)?;
        let certificate = Arc::new(Certificate {
            files,
            provider: provider.clone(),
            current: ArcSwap::from_pointee(certified),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("the ring provider supports no TLS version")?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate,
        })
    }

    /// Reads the files again and, if they hold a valid certificate and key, presents them from
    /// the next handshake on. Connections already open keep theirs.
    ///
    /// # Errors
    /// As [`Tls::load`]; then the certificate presented so far stays.
    pub fn reload(&self) -> Result<()> {
        let Certificate {
            files,
            provider,
            current,
        } = &*self.certificate;
        current.store(Arc::new(read_certified_key(files, provider)?));
        Ok(())
    }

    /// The files it reads.
    pub fn files(&self) -> &TlsFiles {
        &self.certificate.files
    }

    /// The acceptor that runs the server side of a handshake.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// The certificate a listener presents to every client (no SNI selection), swapped whole on a
/// reload.
#[derive(Debug)]
struct Certificate {
    files: TlsFiles,
    /// The provider that loads the key (the one the server configuration uses).
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The chain of `files.cert` and the key of `files.key`, checked to belong together.
fn read_certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let cert_pem = read(&files.cert, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem_error(&err))
        .with_context(|| format!("TLS certificate file `{}`", files.cert.display()))?;
    if chain.is_empty() {
        bail!(
            "TLS certificate file `{}` holds no certificate (a PEM `CERTIFICATE` block)",
            files.cert.display()
        );
    }
    let key_pem = read(&files.key, "key")?;
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => bail!(
            "TLS key file `{}` holds no private key (a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or \
             `EC PRIVATE KEY` block)",
            files.key.display()
        ),
        Err(err) => {
            return Err(pem_error(&err))
                .with_context(|| format!("TLS key file `{}`", files.key.display()));
        }
    };
    let key = provider
        .key_provider
        .load_private_key(key)
        .with_context(|| {
            format!(
                "TLS key file `{}`: not a key rustls can sign with (RSA, ECDSA P-256 or P-384, \
                 or Ed25519)",
                files.key.display()
            )
        })?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => bail!(
            "TLS key file `{}` does not hold the key of the certificate in `{}`",
            files.key.display(),
            files.cert.display()
        ),
        Err(err) => Err(err).with_context(|| {
            format!(
                "TLS certificate file `{}`: the first certificate cannot be parsed",
                files.cert.display()
            )
        }),
    }
}

/// The bytes of `path`, the error naming it as the TLS `what` file.
fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .with_context(|| format!("cannot read the TLS {what} file `{}`", path.display()))
}

/// A PEM parse error, said without the base64 text it choked on (it may be key material).
fn pem_error(err: &pem::Error) -> anyhow::Error {
    match err {
        pem::Error::MissingSectionEnd { .. } => anyhow::anyhow!("a PEM block has no END line"),
        pem::Error::IllegalSectionStart { .. } => {
            anyhow::anyhow!("a PEM BEGIN line is malformed")
        }
        pem::Error::Base64Decode(_) => anyhow::anyhow!("a PEM block is not valid base64"),
        other => anyhow::anyhow!("not valid PEM: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `localhost` and its key, written to `dir` as PEM.
    fn write_pair(dir: &Path, name: &str) -> TlsFiles {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let files = TlsFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, certified.cert.pem()).unwrap();
        std::fs::write(&files.key, certified.signing_key.serialize_pem()).unwrap();
        files
    }

    fn load_error(files: &TlsFiles) -> String {
        format!("{:#}", Tls::load(files.clone()).unwrap_err())
    }

    #[test]
    fn loads_a_pair_and_names_the_file_of_each_fault() {
        let dir = tempfile::tempdir().unwrap();
        let good = write_pair(dir.path(), "good");
        Tls::load(good.clone()).unwrap();
        let other = write_pair(dir.path(), "other");
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a PEM file\n").unwrap();
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();

        let err = load_error(&TlsFiles {
            cert: missing.clone(),
            ..good.clone()
        });
        assert!(
            err.contains("cannot read the TLS certificate file") && err.contains("missing.pem"),
            "{err}"
        );
        let err = load_error(&TlsFiles {
            cert: empty.clone(),
            ..good.clone()
        });
        assert!(
            err.contains("empty.pem") && err.contains("holds no certificate"),
            "{err}"
        );
        let err = load_error(&TlsFiles {
            cert: broken.clone(),
            ..good.clone()
        });
        assert!(
            err.contains("broken.pem") && err.contains("no END line"),
            "{err}"
        );
        let err = load_error(&TlsFiles {
            key: empty,
            ..good.clone()
        });
        assert!(
            err.contains("empty.pem") && err.contains("holds no private key"),
            "{err}"
        );
        // A certificate file is no key file.
        let err = load_error(&TlsFiles {
            key: good.cert.clone(),
            ..good.clone()
        });
        assert!(
            err.contains("good.crt") && err.contains("holds no private key"),
            "{err}"
        );
        let err = load_error(&TlsFiles {
            key: other.key.clone(),
            ..good.clone()
        });
        assert!(
            err.contains("other.key")
                && err.contains("does not hold the key of the certificate in")
                && err.contains("good.crt"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "server");
        let tls = Tls::load(files.clone()).unwrap();
        let first = tls.certificate.current.load_full();

        std::fs::write(&files.cert, "garbage").unwrap();
        assert!(tls.reload().is_err());
        assert!(Arc::ptr_eq(&first, &tls.certificate.current.load_full()));

        let renewed = write_pair(dir.path(), "server");
        assert_eq!(renewed, files);
        tls.reload().unwrap();
        assert_ne!(first.cert, tls.certificate.current.load_full().cert);
    }
}
