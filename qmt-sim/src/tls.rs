//! TLS client settings of an `AT+QSSLCFG` context (spec §7) as a rustls [`ClientConfig`].
//!
//! Only the ring crypto provider is used, and always explicitly
//! ([`ClientConfig::builder_with_provider`]): mixing it with aws-lc-rs panics at run time.
//!
//! | setting | mapping |
//! |---|---|
//! | `seclevel` 0 | "no authentication": the server certificate is **not verified at all** (a verifier that accepts anything, [`AcceptAnyServerCert`]); no client certificate |
//! | `seclevel` 1 | the server is verified against the uploaded CA (`cacert`) |
//! | `seclevel` 2 | as 1, and the client presents `clientcert` + `clientkey` |
//! | `ignorelocaltime` 1 | certificates that are only expired or not yet valid are accepted: the chain is verified in full at a time inside its validity ([`IgnoreTime`]) |
//! | `sslversion` 3 | TLS 1.2 only |
//! | `sslversion` 4 | TLS 1.2 and 1.3 |
//! | `sslversion` 0–2 | SSL 3.0, TLS 1.0, TLS 1.1: rustls has none of them → [`TlsError::UnsupportedVersion`], which the shell reports as a TLS failure at connect (`+QMTOPEN: idx,-1`) |
//!
//! `ciphersuite` is not mapped: the provider's default suites are offered.

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::net::TlsConfig;

/// Why a [`TlsConfig`] cannot become a rustls client configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `sslversion` 0–2 (SSL 3.0, TLS 1.0, TLS 1.1) or an unknown value: rustls does not offer it.
    #[error("sslversion {0} is not supported (only 3 = TLS 1.2 and 4 = all)")]
    UnsupportedVersion(u8),
    /// `seclevel` is not 0, 1 or 2.
    #[error("seclevel {0} is not 0, 1 or 2")]
    BadSeclevel(u8),
    /// `seclevel` 1 or 2 without an uploaded CA certificate.
    #[error("seclevel {0} needs a CA certificate (cacert)")]
    MissingCa(u8),
    /// `seclevel` 2 without a client certificate or key.
    #[error("seclevel 2 needs a client certificate and key (clientcert, clientkey)")]
    MissingClientAuth,
    /// A PEM file holds nothing usable. The key's bytes are never part of the message.
    #[error("{0}: no usable PEM content")]
    BadPem(&'static str),
    /// rustls refused the settings (e.g. the client key does not match a usable algorithm).
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider used everywhere in qmt-sim: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration for one SSL context (see the module docs).
///
/// # Errors
/// See [`TlsError`].
pub fn client_config(cfg: &TlsConfig) -> Result<Arc<ClientConfig>, TlsError> {
    let versions: &[&rustls::SupportedProtocolVersion] = match cfg.sslversion {
        3 => &[&rustls::version::TLS12],
        4 => &[&rustls::version::TLS12, &rustls::version::TLS13],
        v => return Err(TlsError::UnsupportedVersion(v)),
    };
    let provider = provider();
    let builder =
        ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let config = match cfg.seclevel {
        0 => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert::new(&provider)))
            .with_no_client_auth(),
        level @ (1 | 2) => {
            let ca = cfg.ca_cert.as_deref().ok_or(TlsError::MissingCa(level))?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                let cert = cert.map_err(|_| TlsError::BadPem("cacert"))?;
                roots.add(cert)?;
            }
            if roots.is_empty() {
                return Err(TlsError::BadPem("cacert"));
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| rustls::Error::General(e.to_string()))?;
            let verifier: Arc<dyn ServerCertVerifier> = if cfg.ignore_local_time {
                Arc::new(IgnoreTime { inner: webpki })
            } else {
                webpki
            };
            let builder = builder
                .dangerous()
                .with_custom_certificate_verifier(verifier);
            if level == 2 {
                let (certs, key) = client_auth(cfg)?;
                builder.with_client_auth_cert(certs, key)?
            } else {
                builder.with_no_client_auth()
            }
        }
        other => return Err(TlsError::BadSeclevel(other)),
    };
    Ok(Arc::new(config))
}

/// The client certificate chain and key of `seclevel` 2.
fn client_auth(
    cfg: &TlsConfig,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let (Some(cert), Some(key)) = (cfg.client_cert.as_deref(), cfg.client_key.as_deref()) else {
        return Err(TlsError::MissingClientAuth);
    };
    let certs = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::BadPem("clientcert"))?;
    if certs.is_empty() {
        return Err(TlsError::BadPem("clientcert"));
    }
    // The parse error is dropped on purpose: it might quote key material.
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| TlsError::BadPem("clientkey"))?;
    Ok((certs, key))
}

/// `seclevel` 0, the module's "no authentication" mode: any server certificate is accepted,
/// whoever signed it and whatever name it carries. Handshake signatures are still checked, so the
/// peer must hold the key of the certificate it sent — but nothing ties that certificate to the
/// server. Use only against test brokers.
#[derive(Debug)]
pub struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyServerCert {
    /// A verifier that checks handshake signatures with `provider`'s algorithms.
    pub fn new(provider: &CryptoProvider) -> Self {
        AcceptAnyServerCert {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `ignorelocaltime` 1: the WebPki verifier, but a chain that fails only because a certificate is
/// expired or not yet valid is verified again — in full: signatures, CA, name — at a time inside
/// that certificate's validity (its `notAfter` or `notBefore`). Every other error stands. If the
/// certificates of the chain have no validity period in common, the chain is still rejected.
pub struct IgnoreTime {
    inner: Arc<WebPkiServerVerifier>,
}

impl fmt::Debug for IgnoreTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IgnoreTime").finish_non_exhaustive()
    }
}

impl ServerCertVerifier for IgnoreTime {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut at = now;
        // Each retry moves the clock into one more certificate's window; a chain is short.
        for _ in 0..8 {
            let result = self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                at,
            );
            match result {
                Err(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                    not_after,
                    ..
                })) if not_after != at => at = not_after,
                Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
                    not_before,
                    ..
                })) if not_before != at => at = not_before,
                other => return other,
            }
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Expired))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }
}
