//! `doorman operator token` (a new operator token, minted offline into the
//! database) and `doorman token revoke` (any token, by whoever holds it).
//!
//! The token to revoke is read from a file or standard input, never from
//! the command line: arguments end up in shell histories and process lists.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use doorman_client::Client;
use doorman_domain::Clock as _;

use crate::SystemClock;

/// `doorman operator`.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    #[command(subcommand)]
    pub command: OperatorCommand,
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Mint a new operator API token straight into the database (no running
    /// service or token needed: the way back in when the operator's token is
    /// lost or revoked). Logged in the audit log; the token is printed once.
    Token {
        /// The service's database (SQLite path or URL, or postgres:// URL).
        #[arg(long, env = "DOORMAN_DATABASE")]
        database: String,
    },
}

/// `doorman token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke an API token (yours, or one you hold): it gets 401 from then on
    /// and its dashboard sessions end. The token is read from --token-file or
    /// standard input, never from the command line.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The service's URL.
    #[arg(long, env = "DOORMAN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The token that authenticates the call; without it the token being
    /// revoked authenticates its own revocation.
    #[arg(long, env = "DOORMAN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the token to revoke (else it is read from standard input).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// `doorman operator ...`.
pub async fn run_operator(args: OperatorArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    match args.command {
        OperatorCommand::Token { database } => {
            let store = doorman_store::open(&database).await.context("opening the database")?;
            let token = doorman_server::tokens::mint_operator_token(store.as_ref(), SystemClock.now())
                .await
                .map_err(|e| anyhow::anyhow!("minting the token: {e}"))?;
            writeln!(out, "new operator token (shown once, keep it safe; its minting is in the audit log):")?;
            writeln!(out, "{token}")?;
            Ok(())
        }
    }
}

/// `doorman token ...`; `stdin` is where the token comes from without --token-file.
pub async fn run_token(
    args: TokenArgs,
    stdin: &mut impl std::io::Read,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    match args.command {
        TokenCommand::Revoke(a) => {
            let token = match &a.token_file {
                Some(path) => read_token_file(path)?,
                None => {
                    let mut text = String::new();
                    stdin.take(4096).read_to_string(&mut text).context("reading the token from standard input")?;
                    one_token(&text).context("standard input")?
                }
            };
            let bearer = a.token.clone().unwrap_or_else(|| token.clone());
            Client::new(&a.url).with_token(bearer).revoke_token(&token).await?;
            writeln!(out, "token revoked: it no longer works, and its dashboard sessions have ended")?;
            Ok(())
        }
    }
}

fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    one_token(&text).with_context(|| path.display().to_string())
}

/// The one token in `text` (surrounding whitespace and a newline allowed).
fn one_token(text: &str) -> anyhow::Result<String> {
    let token = text.trim();
    if token.is_empty() {
        bail!("no token to revoke");
    }
    if token.split_whitespace().nth(1).is_some() {
        bail!("more than one token: give one token to revoke");
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    enum Cli {
        Operator(OperatorArgs),
        Token(TokenArgs),
    }

    #[test]
    fn the_commands_parse_and_the_token_never_comes_from_argv() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["doorman", "operator", "token", "--database", "sqlite://x.db"]).unwrap();
        assert!(
            matches!(cli, Cli::Operator(OperatorArgs { command: OperatorCommand::Token { ref database } }) if database == "sqlite://x.db")
        );
        let cli = Cli::try_parse_from(["doorman", "token", "revoke", "--token-file", "t.txt"]).unwrap();
        let Cli::Token(TokenArgs { command: TokenCommand::Revoke(r) }) = cli else { panic!("{cli:?}") };
        assert_eq!(r.token_file.as_deref(), Some(Path::new("t.txt")));
        // No positional token to revoke.
        assert!(Cli::try_parse_from(["doorman", "token", "revoke", "dm_secret"]).is_err());
    }

    #[test]
    fn one_token_is_read_and_nothing_else() {
        assert_eq!(one_token("  dm_abc\n").unwrap(), "dm_abc");
        assert!(one_token(" \n").is_err());
        assert!(one_token("dm_a dm_b").is_err());
    }
}
