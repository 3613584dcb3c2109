fn main() {
    std::process::exit(dynamo_ctl::run());
}
