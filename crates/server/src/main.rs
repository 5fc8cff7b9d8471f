//! `videoroom`: the workshop's token service (placeholder until issue 2's server lands).

fn main() {
    println!("videoroom: not built yet");
}
