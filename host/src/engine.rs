//! Layer 3, startup step 3 (see [`crate`]): the one [`wasmtime::Engine`] of the process and its epoch ticker.
//!
//! The engine is configured once: the pooling instance allocator with explicit totals (every
//! instance's memory, tables and stack come from pre-reserved slots, so instantiation does no
//! `mmap`), copy-on-write memory images, async calls (guests yield to tokio at epoch ticks),
//! and epoch interruption driven by one ticker thread.
//!
//! Between instances, a memory slot is reset without returning its pages to the kernel: up to
//! [`KEEP_RESIDENT_BYTES`] of each memory stay mapped, and on Linux 6.7+ the `PAGEMAP_SCAN`
//! ioctl finds the pages the last instance dirtied so only those are restored. This removes
//! most `madvise` calls (and their TLB shootdowns) and the page faults of the next instance;
//! BENCHMARKS.md has the measurements.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the ticker thread advances the engine's epoch: 10 ms. Deadlines are counted in
/// these ticks, so they hold to within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine settings. The defaults are what `wasmhost serve` uses.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Instances alive at once, across all components: the pooling allocator's total of
    /// component instances. A request past it fails to instantiate. Default 1000.
    pub max_instances: u32,
    /// Linear memory per guest memory, in bytes; `memory.grow` past it fails. Default 128 MiB.
    pub max_memory_bytes: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_instances: 1000,
            max_memory_bytes: 128 << 20,
        }
    }
}

/// Bytes of each linear memory kept mapped between instances: 4 MiB, more than a Rust guest's
/// stack, data and typical heap. Larger memories return the excess to the kernel.
pub const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// Core instances, memories and tables a component instance may use. A Rust `wasm32-wasip2`
/// component has a main module plus a few small adapter and shim modules.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

impl EngineSettings {
    /// The wasmtime configuration these settings make.
    pub fn config(&self) -> Config {
        let n = self.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n * CORE_INSTANCES_PER_COMPONENT)
            .total_memories(n * MEMORIES_PER_COMPONENT)
            .total_tables(n * TABLES_PER_COMPONENT)
            .total_stacks(n)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(self.max_memory_bytes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(1 << 16)
            .pagemap_scan(wasmtime::Enabled::Auto);

        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config
    }

    /// Builds the engine and starts its epoch ticker thread, which lives as long as the process;
    /// returns the engine and the ticks its ticker counts.
    ///
    /// # Errors
    /// The pooling allocator cannot reserve its address space (see `ulimit -v`).
    pub fn build(&self) -> Result<(Engine, EpochTicks)> {
        let engine = Engine::new(&self.config())
            .map_err(anyhow::Error::from)
            .context("cannot create the wasmtime engine")?;
        let ticker = engine.weak();
        let ticks = EpochTicks::default();
        let count = ticks.clone();
        std::thread::Builder::new()
            .name("wasmhost-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    count.0.fetch_add(1, Ordering::Relaxed);
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("cannot start the epoch ticker thread")?;
        Ok((engine, ticks))
    }
}

/// The epoch ticks of one engine, counted by its ticker thread each time it increments the
/// engine's epoch (wasmtime keeps its own count private): a store's call hook reads it to see
/// whether a host call outlasted a tick ([`crate::limits::CpuSlices`]). Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct EpochTicks(Arc<AtomicU64>);

impl EpochTicks {
    /// The ticks counted so far.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
