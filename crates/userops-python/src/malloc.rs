//! Memory freed by a run goes back to the system (glibc only).
//!
//! glibc's malloc raises its mmap threshold each time a large block is freed, up to
//! 32 MiB, so the many mid-sized blocks of partial states (per-user vectors, packed
//! sets) come from its heap, and freeing them does not shrink the process: a 200M-event
//! run of every plugin peaked at 4.1 GiB, 0.7 GiB of it freed states still held.
//! Fixing the threshold at its documented starting value (128 KiB) keeps large blocks
//! mapped on their own and returned when freed: the same run peaks at 3.4 GiB, no
//! slower (docs/scale.md). It is process-wide, so it can be turned off with
//! `USEROPS_MALLOC_TUNING=0` before `import userops`.

/// Fixes glibc's mmap threshold at 128 KiB unless `USEROPS_MALLOC_TUNING=0`; elsewhere
/// does nothing.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("USEROPS_MALLOC_TUNING").is_none_or(|v| v != "0") {
        // SAFETY: mallopt only sets a malloc parameter; any value is accepted or refused.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}
