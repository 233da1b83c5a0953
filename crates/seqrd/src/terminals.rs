//! Registers: the SEQR credentials seqrd holds for each terminal of a tenant.

use anyhow::Context as _;
use seqr_client::SeqrClient;
use seqr_wire as wire;
use sqlx::PgPool;

use crate::secret::Secret;

/// A register as the tenant names it.
#[derive(Debug, Clone)]
pub struct TerminalSpec {
    pub tenant_id: String,
    pub merchant_id: String,
    pub store_id: String,
    pub terminal_id: String,
}

/// A reseller login (RESELLERUSER), used to register terminals at SEQR.
#[derive(Debug, Clone)]
pub struct Reseller {
    pub id: String,
    pub user_id: String,
    pub password: Secret,
}

/// Stores existing SEQR credentials for a register.
pub async fn add(
    pool: &PgPool,
    spec: &TerminalSpec,
    seqr_terminal_id: &str,
    password: &Secret,
) -> Result<(), sqlx::Error> {
    for id in [&spec.tenant_id, &spec.merchant_id, &spec.store_id, &spec.terminal_id] {
        if domain::TerminalId::parse(id).is_err() {
            return Err(sqlx::Error::Protocol(format!("invalid id {id:?}: 1 to 64 of A-Z a-z 0-9 _ -")));
        }
    }
    sqlx::query(
        "INSERT INTO terminals (tenant_id, terminal_id, merchant_id, store_id, seqr_terminal_id, seqr_password)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, terminal_id) DO UPDATE
         SET merchant_id = EXCLUDED.merchant_id, store_id = EXCLUDED.store_id,
             seqr_terminal_id = EXCLUDED.seqr_terminal_id, seqr_password = EXCLUDED.seqr_password",
    )
    .bind(&spec.tenant_id)
    .bind(&spec.terminal_id)
    .bind(&spec.merchant_id)
    .bind(&spec.store_id)
    .bind(seqr_terminal_id)
    .bind(password.expose())
    .execute(pool)
    .await?;
    Ok(())
}

/// Registers the register at SEQR (registerTerminal, as the reseller) with a fresh password, and stores the
/// credentials. Returns SEQR's terminal id.
pub async fn register(
    pool: &PgPool,
    seqr: &SeqrClient,
    reseller: &Reseller,
    spec: &TerminalSpec,
) -> anyhow::Result<String> {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let password = Secret::new(hex::encode(bytes));
    let reseller = seqr_client::Credentials::reseller(&reseller.id, &reseller.user_id, reseller.password.expose());
    let request = wire::Request::RegisterTerminal(wire::RegisterTerminalRequest {
        context: Some(reseller.context(crate::seqr::CLIENT_ID, None)),
        external_terminal_id: Some(format!("{}-{}", spec.tenant_id, spec.terminal_id)),
        password: Some(password.expose().to_owned()),
        name: Some(spec.terminal_id.clone()),
    });
    let response = seqr.call(request).await.context("registerTerminal")?;
    let terminal_id = match response {
        wire::Response::RegisterTerminal(r) => r.terminal_id.context("registerTerminal returned no terminalId")?,
        _ => anyhow::bail!("unexpected answer to registerTerminal"),
    };
    add(pool, spec, &terminal_id, &password).await?;
    Ok(terminal_id)
}
