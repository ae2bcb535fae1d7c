fn main() {
    std::process::exit(tend::dispatch(std::env::args_os().collect()));
}
