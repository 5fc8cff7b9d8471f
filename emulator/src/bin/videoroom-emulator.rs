//! Standalone emulator binary (placeholder).

fn main() {
    println!("videoroom-emulator: not built yet");
}
