//! The emulator's network faces (placeholder; grows in issues 3 and 4).
