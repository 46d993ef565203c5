//! platctl: one-shot commands and an interactive shell over platd's
//! management socket.
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "platctl",
    version,
    about = "Admin CLI of the plat NAT64 appliance"
)]
struct Args {
    /// Path of platd's management socket.
    #[arg(long, default_value = "/run/plat/platd.sock")]
    socket: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::bail!(
        "the management protocol is not served yet; platd's socket would be {}",
        args.socket.display()
    )
}
