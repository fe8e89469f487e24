//! `mirrord-usage`: one binary for every way the product runs.

use clap::Parser;
use mirrord_usage::cli::{Cli, Command};
use mirrord_usage::{controller, demo, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Controller(args) => controller::run(args).await,
        Command::Backup(args) => {
            let summary = mirrord_usage_store::backup(&args.db, &args.target)?;
            println!(
                "wrote {} ({} bytes, {} sessions)",
                args.target.display(),
                summary.bytes,
                summary.sessions
            );
            Ok(())
        }
        Command::Restore(args) => {
            let _lock = serve::lock_database(&args.db)?;
            let summary = mirrord_usage_store::restore(&args.backup, &args.db)?;
            println!(
                "restored {} from {} ({} sessions)",
                args.db.display(),
                args.backup.display(),
                summary.sessions
            );
            Ok(())
        }
        Command::Crdgen => {
            print!("{}", mirrord_usage_crds::usage_report::crd_yaml());
            Ok(())
        }
    }
}
