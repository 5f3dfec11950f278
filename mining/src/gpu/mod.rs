//! Embedded GPU workers: `otedama-node --gpu LIST`, on OpenCL.
//!
//! OpenCL runs on NVIDIA, AMD and Intel GPUs from one kernel source, and on CPUs through PoCL,
//! which is how every kernel here is tested without a GPU. `libOpenCL.so.1` (the ICD loader) is
//! loaded at run time by `opencl3`'s `dynamic` feature: building needs no OpenCL package, and
//! a machine without one simply has no devices ([`devices`] returns none).
//!
//! A GPU device is driven by a worker thread like a CPU worker ([`crate::workers`]): the same
//! job source, extranonce plumbing, job switches, stale checks and found-share channel. Only its
//! hashing engine differs: [`GpuDevice`] hands each nonce range to a kernel
//! (`kernels/sha256d.cl`, `kernels/scrypt.cl`) that reports the nonces whose hash's top 32 bits
//! pass the share target's; the worker re-hashes each with the reference implementation and
//! submits only what meets the target.
//!
//! * **Trust.** A device is tested when it opens (a known-answer scan against the CPU's
//!   reference, which catches both wrong and missing results) and every candidate it reports
//!   later is re-checked; one that does not even pass the prefilter it claims to have passed is
//!   a wrong result, and [`MAX_WRONG_RESULTS`] of them disable the device.
//! * **Intensity.** A dispatch covers `2^intensity` nonces. Unless set per device, it is tuned
//!   when the device opens so that one dispatch takes about [`TARGET_KERNEL_TIME`]: the worker
//!   looks for new work between dispatches, so this bounds how late a job switch is.
//! * **Errors.** Anything the driver reports (a lost device, out of memory, a kernel that does
//!   not build) is an error value, never a panic; the worker logs it and reopens the device
//!   after a pause, and drops it after [`MAX_REOPENS`] failed attempts in a row.

pub mod bench;

use crate::workers::sha256d::{compress, Sha256dWork, IV};
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::device::{Device, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_GPU};
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer, ClMem, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE};
use opencl3::program::Program;
use opencl3::types::{cl_uint, CL_BLOCKING};
use otedama_consensus::pow::PowAlgo;
use std::time::{Duration, Instant};

/// How long one kernel dispatch should take: long enough that launch and read-back overheads
/// are a few percent, short enough that a job switch (checked between dispatches) stays
/// prompt. The tuner accepts `[TARGET/2, TARGET]`, so dispatches take 50..100 ms.
pub const TARGET_KERNEL_TIME: Duration = Duration::from_millis(100);

/// Nonces one SHA256d work item scans (a power of two, so a dispatch of a power-of-two size
/// tiles the 2^32 nonces exactly). 64 amortises the item's set-up (parameter loads) while
/// leaving millions of items per second for the GPU to schedule.
pub const SHA256D_NONCES_PER_ITEM: u32 = 64;

/// Candidate slots a kernel's output holds (`MAX_OUT` in the kernels). With a share target a
/// dispatch reports ~`batch / 2^32 * difficulty^-1` candidates: far fewer than this except on
/// test chains, where the worker takes the first share anyway.
const MAX_OUT: usize = 255;

/// Wrong results (reported candidates whose reference hash fails the prefilter) after which a
/// device is disabled: one may be a flipped bit, three are a broken device or driver.
pub const MAX_WRONG_RESULTS: u32 = 3;

/// Failed reopen attempts in a row after which a device is dropped.
pub const MAX_REOPENS: u32 = 5;

/// Default scrypt lookup gap: the full 128 KiB scratchpad per hash. GPUs short of memory for
/// enough hashes in flight trade it for recomputation with a larger gap.
pub const DEFAULT_LOOKUP_GAP: u32 = 1;

/// Intensities (log2 of nonces per dispatch) a device accepts: 2^8 keeps even a scrypt
/// dispatch meaningful, 2^31 is half the nonce range.
pub const INTENSITY_RANGE: std::ops::RangeInclusive<u32> = 8..=31;

/// Each kernel's source after the shared SHA-256 round functions and constants.
const SHA256D_SOURCE: &str = concat!(
    include_str!("kernels/sha256_common.cl"),
    include_str!("kernels/sha256d.cl")
);
const SCRYPT_SOURCE: &str = concat!(
    include_str!("kernels/sha256_common.cl"),
    include_str!("kernels/scrypt.cl")
);

/// What went wrong with a device.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GpuError {
    #[error("no OpenCL device {0} (see `otedama-node gpus`)")]
    NoSuchDevice(usize),
    #[error("OpenCL: {0}")]
    Driver(String),
    #[error("kernel build failed: {0}")]
    Build(String),
    #[error("the device computes wrong results: {0}")]
    WrongResults(String),
}

impl GpuError {
    /// Errors that reopening cannot fix: the device is dropped at once.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            GpuError::NoSuchDevice(_) | GpuError::Build(_) | GpuError::WrongResults(_)
        )
    }
}

fn driver(what: &str) -> impl Fn(opencl3::error_codes::ClError) -> GpuError + '_ {
    move |e| GpuError::Driver(format!("{what}: {e}"))
}

/// One OpenCL device as `otedama-node gpus` lists it.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Index over all platforms' devices, in platform order: what `--gpu` takes.
    pub index: usize,
    pub platform: String,
    pub name: String,
    /// `gpu`, `cpu` or `other`.
    pub kind: &'static str,
    /// Global memory, bytes.
    pub memory: u64,
    /// Largest single allocation, bytes.
    pub max_alloc: u64,
    pub compute_units: u32,
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} [{}] platform={:?} memory={} MiB compute_units={}",
            self.index,
            self.name,
            self.kind,
            self.platform,
            self.memory >> 20,
            self.compute_units
        )
    }
}

/// Every OpenCL device with its info. Without an OpenCL loader or platform: none.
fn enumerate() -> Vec<(Device, DeviceInfo)> {
    let Ok(platforms) = opencl3::platform::get_platforms() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in platforms {
        let pname = p.name().unwrap_or_else(|_| "?".into());
        let Ok(ids) = p.get_devices(CL_DEVICE_TYPE_ALL) else {
            continue;
        };
        for id in ids {
            let d = Device::new(id);
            let kind = match d.dev_type() {
                Ok(t) if t & CL_DEVICE_TYPE_GPU != 0 => "gpu",
                Ok(t) if t & CL_DEVICE_TYPE_CPU != 0 => "cpu",
                _ => "other",
            };
            let info = DeviceInfo {
                index: out.len(),
                platform: pname.clone(),
                name: d.name().unwrap_or_else(|_| "?".into()).trim().to_string(),
                kind,
                memory: d.global_mem_size().unwrap_or(0),
                max_alloc: d.max_mem_alloc_size().unwrap_or(0),
                compute_units: d.max_compute_units().unwrap_or(1).max(1),
            };
            out.push((d, info));
        }
    }
    out
}

/// Every OpenCL device (none without OpenCL).
pub fn devices() -> Vec<DeviceInfo> {
    enumerate().into_iter().map(|(_, i)| i).collect()
}

/// `otedama-node gpus`: the platforms' devices, one line each.
pub fn list_cli() -> String {
    let d = devices();
    if d.is_empty() {
        return "no OpenCL devices (install the GPU's OpenCL driver and the ICD loader \
                ocl-icd-libopencl1; see docs/operator-guide.md)\n"
            .into();
    }
    d.iter().map(|i| format!("{i}\n")).collect()
}

/// How one device mines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuSettings {
    /// Device index (`otedama-node gpus`).
    pub index: usize,
    /// log2 of nonces per dispatch; `None`: tuned for [`TARGET_KERNEL_TIME`].
    pub intensity: Option<u32>,
    /// scrypt lookup gap (1: full scratchpad).
    pub lookup_gap: u32,
    /// Extra OpenCL build options (tests: `-DOTEDAMA_FAULT_INJECT` builds a broken kernel).
    pub build_options: String,
}

impl GpuSettings {
    pub fn new(index: usize) -> GpuSettings {
        GpuSettings {
            index,
            intensity: None,
            lookup_gap: DEFAULT_LOOKUP_GAP,
            build_options: String::new(),
        }
    }
}

/// Parses `--gpu`: `all`, or a comma-separated list of `INDEX[:INTENSITY[:GAP]]` (`0,1`,
/// `0:22,1:20:2`); `all[:INTENSITY[:GAP]]` takes every device. Empty: none.
pub fn parse_list(spec: &str) -> Result<Vec<GpuSettings>, String> {
    let mut out: Vec<GpuSettings> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut parts = item.split(':');
        let head = parts.next().unwrap_or_default();
        let intensity = match parts.next() {
            None | Some("") | Some("auto") => None,
            Some(i) => {
                let v: u32 = i
                    .parse()
                    .map_err(|_| format!("bad intensity {i:?} in --gpu {item:?}"))?;
                if !INTENSITY_RANGE.contains(&v) {
                    return Err(format!(
                        "intensity {v} in --gpu {item:?} is outside {}..={}",
                        INTENSITY_RANGE.start(),
                        INTENSITY_RANGE.end()
                    ));
                }
                Some(v)
            }
        };
        let lookup_gap = match parts.next() {
            None | Some("") => DEFAULT_LOOKUP_GAP,
            Some(g) => match g.parse::<u32>() {
                Ok(v) if (1..=32).contains(&v) => v,
                _ => return Err(format!("lookup gap {g:?} in --gpu {item:?} is not 1..=32")),
            },
        };
        if parts.next().is_some() {
            return Err(format!("--gpu item {item:?}: INDEX[:INTENSITY[:GAP]]"));
        }
        let indexes: Vec<usize> = if head == "all" {
            (0..devices().len()).collect()
        } else {
            vec![head
                .parse()
                .map_err(|_| format!("--gpu item {item:?}: not a device index or `all`"))?]
        };
        for index in indexes {
            if out.iter().any(|s| s.index == index) {
                return Err(format!("--gpu names device {index} twice"));
            }
            out.push(GpuSettings {
                index,
                intensity,
                lookup_gap,
                build_options: String::new(),
            });
        }
    }
    Ok(out)
}

/// An open device with its kernel built, tested and tuned: a worker's hashing engine.
pub struct GpuDevice {
    pub info: DeviceInfo,
    pow: PowAlgo,
    // Field order is drop order: kernel objects before the context.
    kernel: Kernel,
    params: Buffer<cl_uint>,
    out: Buffer<cl_uint>,
    scratch: Option<Buffer<cl_uint>>,
    queue: CommandQueue,
    _program: Program,
    context: Context,
    lookup_gap: u32,
    /// Work items per dispatch.
    global: usize,
    /// Nonces one item covers.
    per_item: u32,
    /// Wrong results seen.
    pub wrong: u32,
    has_header: bool,
}

impl GpuDevice {
    /// Opens device `settings.index` for `pow`: builds its kernel, runs the known-answer test
    /// and sets its intensity (tuned unless given).
    pub fn open(settings: &GpuSettings, pow: PowAlgo) -> Result<GpuDevice, GpuError> {
        let (device, info) = enumerate()
            .into_iter()
            .nth(settings.index)
            .ok_or(GpuError::NoSuchDevice(settings.index))?;
        let context = Context::from_device(&device).map_err(driver("create a context"))?;
        #[allow(deprecated)] // clCreateCommandQueue: OpenCL 1.2 drivers lack the 2.0 call.
        let queue = CommandQueue::create_default(&context, 0).map_err(driver("create a queue"))?;
        let (source, name, per_item) = match pow {
            PowAlgo::Sha256d => (SHA256D_SOURCE, "sha256d_scan", SHA256D_NONCES_PER_ITEM),
            PowAlgo::Scrypt1024 => (SCRYPT_SOURCE, "scrypt_scan", 1),
        };
        let lookup_gap = settings.lookup_gap.clamp(1, 32);
        let options = format!(
            "-DNONCES_PER_ITEM={per_item} -DLOOKUP_GAP={lookup_gap} {}",
            settings.build_options.replace('\0', "")
        );
        let mut program =
            Program::create_from_source(&context, source).map_err(driver("create the program"))?;
        if let Err(e) = program.build(context.devices(), &options) {
            let log = program
                .get_build_log(device.id())
                .unwrap_or_else(|_| String::new());
            return Err(GpuError::Build(format!("{e}: {}", log.trim())));
        }
        let kernel = Kernel::create(&program, name).map_err(driver("create the kernel"))?;
        // SAFETY: plain device allocations with no host pointer.
        let params = unsafe {
            Buffer::<cl_uint>::create(&context, CL_MEM_READ_ONLY, 64, std::ptr::null_mut())
        }
        .map_err(driver("allocate the parameters"))?;
        // SAFETY: as above.
        let out = unsafe {
            Buffer::<cl_uint>::create(
                &context,
                CL_MEM_READ_WRITE,
                1 + MAX_OUT,
                std::ptr::null_mut(),
            )
        }
        .map_err(driver("allocate the output"))?;
        let mut dev = GpuDevice {
            info,
            pow,
            kernel,
            params,
            out,
            scratch: None,
            queue,
            _program: program,
            context,
            lookup_gap,
            global: 0,
            per_item,
            wrong: 0,
            has_header: false,
        };
        dev.set_global(64)?;
        dev.self_test()?;
        match settings.intensity {
            Some(i) => dev.set_global(((1u64 << i) / per_item as u64).max(1) as usize)?,
            None => dev.tune()?,
        }
        Ok(dev)
    }

    pub fn pow(&self) -> PowAlgo {
        self.pow
    }

    /// Nonces per dispatch (a power of two).
    pub fn batch(&self) -> u32 {
        (self.global as u64 * self.per_item as u64).min(1 << 31) as u32
    }

    /// log2 of [`GpuDevice::batch`].
    pub fn intensity(&self) -> u32 {
        self.batch().trailing_zeros()
    }

    /// Scratchpad bytes one scrypt item needs: `ceil(1024 / gap)` states of 128 bytes.
    fn scratch_per_item(&self) -> u64 {
        1024u64.div_ceil(self.lookup_gap as u64) * 128
    }

    /// Most items the device's memory allows at once (scrypt: the scratchpad, in at most half
    /// the global memory and one allocation; SHA256d: half the nonce range).
    fn max_global(&self) -> usize {
        match self.pow {
            PowAlgo::Sha256d => (1usize << 31) / self.per_item as usize,
            PowAlgo::Scrypt1024 => {
                let budget = self.info.max_alloc.min(self.info.memory / 2);
                let items = (budget / self.scratch_per_item()).max(1);
                1usize << (63 - items.leading_zeros())
            }
        }
    }

    fn set_global(&mut self, global: usize) -> Result<(), GpuError> {
        let global = global.clamp(1, self.max_global()).next_power_of_two();
        let global = if global > self.max_global() {
            global / 2
        } else {
            global
        };
        if self.pow == PowAlgo::Scrypt1024 && global != self.global {
            self.scratch = None;
            let words = global as u64 * self.scratch_per_item() / 4;
            // SAFETY: a device allocation with no host pointer.
            let buf = unsafe {
                Buffer::<cl_uint>::create(
                    &self.context,
                    CL_MEM_READ_WRITE,
                    words as usize,
                    std::ptr::null_mut(),
                )
            }
            .map_err(driver("allocate the scrypt scratchpad"))?;
            self.scratch = Some(buf);
        }
        self.global = global;
        Ok(())
    }

    /// Sets the header whose nonces the next scans cover (its nonce field is ignored).
    pub fn set_header(&mut self, header: &[u8; 80]) -> Result<(), GpuError> {
        let mut p = [0u32; 64];
        match self.pow {
            PowAlgo::Sha256d => {
                let w = Sha256dWork::new(header);
                p[..8].copy_from_slice(&w.midstate);
                p[8..11].copy_from_slice(&w.tail);
                p[11..19].copy_from_slice(&w.pre3);
                p[19..51].copy_from_slice(&w.w);
            }
            PowAlgo::Scrypt1024 => {
                let mut mid = IV;
                let mut first = [0u8; 64];
                first.copy_from_slice(&header[..64]);
                compress(&mut mid, &first);
                p[..8].copy_from_slice(&mid);
                for (i, c) in header.chunks_exact(4).enumerate() {
                    p[8 + i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
        }
        // SAFETY: a blocking write of 64 words into a 64-word buffer.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut self.params, CL_BLOCKING, 0, &p, &[])
                .map_err(driver("write the parameters"))?;
        }
        self.has_header = true;
        Ok(())
    }

    /// One dispatch of `global` items from `base` (SHA256d: big-endian nonce values; scrypt:
    /// nonces); appends the reported nonces to `found`.
    fn dispatch(
        &mut self,
        base: u32,
        global: usize,
        limit: u32,
        found: &mut Vec<u32>,
    ) -> Result<(), GpuError> {
        let zero = [0u32; 1];
        let mut res = [0u32; 1 + MAX_OUT];
        // SAFETY: the arguments match the kernels' signatures (constant buffer, two uints, the
        // output buffer, and for scrypt the scratchpad sized for `global` items, since
        // `global <= self.global`); reads and writes are blocking and within the buffers.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut self.out, CL_BLOCKING, 0, &zero, &[])
                .map_err(driver("clear the output"))?;
            self.kernel
                .set_arg(0, &self.params.get())
                .map_err(driver("set an argument"))?;
            self.kernel
                .set_arg(1, &base)
                .map_err(driver("set an argument"))?;
            self.kernel
                .set_arg(2, &limit)
                .map_err(driver("set an argument"))?;
            self.kernel
                .set_arg(3, &self.out.get())
                .map_err(driver("set an argument"))?;
            if let Some(s) = &self.scratch {
                self.kernel
                    .set_arg(4, &s.get())
                    .map_err(driver("set an argument"))?;
            }
            let gws = [global];
            self.queue
                .enqueue_nd_range_kernel(
                    self.kernel.get(),
                    1,
                    std::ptr::null(),
                    gws.as_ptr(),
                    std::ptr::null(),
                    &[],
                )
                .map_err(driver("run the kernel"))?;
            self.queue
                .enqueue_read_buffer(&self.out, CL_BLOCKING, 0, &mut res, &[])
                .map_err(driver("read the results"))?;
        }
        let n = (res[0] as usize).min(MAX_OUT);
        found.extend_from_slice(&res[1..1 + n]);
        Ok(())
    }

    /// Scans `count` nonce positions from `pos` (SHA256d: big-endian nonce values, as the CPU
    /// kernels; scrypt: nonces) and appends the nonces whose hash's top 32 bits are at most
    /// `limit`. Candidates only: the caller re-checks them.
    pub fn scan(
        &mut self,
        pos: u32,
        count: u32,
        limit: u32,
        found: &mut Vec<u32>,
    ) -> Result<(), GpuError> {
        if !self.has_header {
            return Ok(());
        }
        let mut done: u64 = 0;
        while done < count as u64 {
            let left = count as u64 - done;
            let items = left.div_ceil(self.per_item as u64).min(self.global as u64) as usize;
            self.dispatch(pos.wrapping_add(done as u32), items, limit, found)?;
            done += items as u64 * self.per_item as u64;
        }
        Ok(())
    }

    /// Known-answer test: one small dispatch on a fixed header with a loose prefilter, against
    /// the reference hash of every nonce it covers. Catches wrong and missing results alike.
    fn self_test(&mut self) -> Result<(), GpuError> {
        let mut header = [0u8; 80];
        for (i, b) in header.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(29).wrapping_add(3);
        }
        let items = 64usize.min(self.global);
        let count = items as u32 * self.per_item;
        // About 32 candidates: enough to test, well under MAX_OUT.
        let limit = u32::MAX / (count / 32).max(2);
        let start = 0x1234_0000u32;
        self.set_header(&header)?;
        let mut got = Vec::new();
        self.dispatch(start, items, limit, &mut got)?;
        self.has_header = false;
        let mut expect = Vec::new();
        for i in 0..count {
            let v = start.wrapping_add(i);
            let nonce = match self.pow {
                PowAlgo::Sha256d => v.swap_bytes(),
                PowAlgo::Scrypt1024 => v,
            };
            if top32(self.pow, &header, nonce) <= limit {
                expect.push(nonce);
            }
        }
        got.sort_unstable();
        expect.sort_unstable();
        if got != expect {
            return Err(GpuError::WrongResults(format!(
                "known-answer test: {} candidates reported, {} expected ({} in common)",
                got.len(),
                expect.len(),
                got.iter()
                    .filter(|n| expect.binary_search(n).is_ok())
                    .count()
            )));
        }
        Ok(())
    }

    /// Sets the dispatch size so that one dispatch takes `[TARGET/2, TARGET]`.
    fn tune(&mut self) -> Result<(), GpuError> {
        let header = [0x5au8; 80];
        self.set_header(&header)?;
        let mut global = (self.info.compute_units as usize * 64).next_power_of_two();
        self.set_global(global)?;
        let mut sink = Vec::new();
        // Warm-up: the first dispatch pays for lazy compilation and allocation.
        self.dispatch(0, self.global, 0, &mut sink)?;
        loop {
            let t0 = Instant::now();
            self.dispatch(0, self.global, 0, &mut sink)?;
            let took = t0.elapsed();
            if took >= TARGET_KERNEL_TIME / 2 || self.global >= self.max_global() {
                if took > TARGET_KERNEL_TIME && self.global > 1 {
                    global = self.global / 2;
                    self.set_global(global)?;
                }
                break;
            }
            // Jump straight to the size the timing predicts, at most 16 times larger.
            let scale = (TARGET_KERNEL_TIME.as_secs_f64() * 0.75 / took.as_secs_f64().max(1e-6))
                .clamp(2.0, 16.0);
            global = ((self.global as f64 * scale) as usize).next_power_of_two() / 2;
            global = global.max(self.global * 2);
            self.set_global(global)?;
        }
        self.has_header = false;
        tracing::debug!(device = self.info.index, global = self.global, "tuned");
        Ok(())
    }
}

/// The top 32 bits (as a little-endian 256-bit number) of the reference hash of `header` with
/// `nonce`: what the kernels' prefilter compares with the limit.
pub fn top32(pow: PowAlgo, header: &[u8; 80], nonce: u32) -> u32 {
    let mut h = *header;
    h[76..].copy_from_slice(&nonce.to_le_bytes());
    let b = pow.hash(&h);
    u32::from_le_bytes([b[28], b[29], b[30], b[31]])
}

#[cfg(test)]
mod tests;
