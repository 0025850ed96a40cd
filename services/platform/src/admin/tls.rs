//! The admin server's TLS ([`crate::config::AdminConfig::tls`]): rustls with the ring provider,
//! TLS 1.2 and 1.3, the certificate chain and key read from PEM files at start.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::AdminError;
use crate::config::AdminTls;

/// The rustls server configuration of `tls`; an error names the file and what is wrong.
pub(super) fn server_config(tls: &AdminTls) -> Result<ServerConfig, AdminError> {
    let fail = AdminError::Tls;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|certs| certs.collect())
        .map_err(|e| fail(format!("certificates in {}: {e}", tls.cert_file.display())))?;
    if certs.is_empty() {
        return Err(fail(format!(
            "{} holds no PEM certificate",
            tls.cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .map_err(|e| fail(format!("private key in {}: {e}", tls.key_file.display())))?;
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            fail(format!(
                "{} with {}: {e}",
                tls.cert_file.display(),
                tls.key_file.display()
            ))
        })
}
