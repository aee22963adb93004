#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    modgate::cli::run()
}
