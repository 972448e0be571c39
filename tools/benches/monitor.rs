//! Benchmark (issue 5; being built).

fn main() {
    eprintln!("not built yet");
}
