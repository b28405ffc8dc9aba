fn main() {
    eprintln!("modcachefs: not yet");
}
