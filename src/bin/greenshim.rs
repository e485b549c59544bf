//! The launcher: `greenshim [options] -- CMD [ARGS…]`.
fn main() {
    eprintln!("greenshim launcher: not yet implemented");
    std::process::exit(2);
}
