//! `nexamd-load`: see the crate documentation and `nexamd-load --help`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use load_tests::{Args, run};

fn main() -> ExitCode {
    let args = Args::parse();
    match try_main(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nexamd-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main(args: &Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = runtime.block_on(run(args))?;
    print!("{report}");
    report.write_json(&args.report)?;
    println!("report       {}", args.report.display());
    // Exit 2 when no connection could be set up: the run measured nothing.
    Ok(if report.connect.ok == 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
