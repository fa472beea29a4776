//! Memory handed to the caller: every structure, string and array a function returns lives
//! in a [`Block`] registered under the address handed out, until `PeerFreeData` (or
//! `PeerEndEnumeration`, for what an enumeration still holds) releases it. A pointer that was
//! never handed out, or was freed already, is not in the registry: `PeerFreeData` ignores it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One part of a block: a boxed value and how to drop it.
struct Part {
    ptr: *mut u8,
    drop: unsafe fn(*mut u8),
}

/// Drops a value boxed by [`Block::boxed`].
///
/// # Safety
/// `p` came from `Box::<T>::into_raw` and is dropped once.
unsafe fn drop_boxed<T>(p: *mut u8) {
    // SAFETY: per the contract, `p` is a leaked `Box<T>` dropped only here.
    drop(unsafe { Box::from_raw(p.cast::<T>()) });
}

/// Everything one returned pointer owns: the top structure, its strings, arrays and buffers.
#[derive(Default)]
pub(crate) struct Block {
    parts: Vec<Part>,
}

// SAFETY: a block exclusively owns the boxes its parts point to; nothing else holds them
// except the caller, who reads them and gives them back through `PeerFreeData`.
unsafe impl Send for Block {}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block").field("parts", &self.parts.len()).finish()
    }
}

impl Block {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Moves `value` into the block; the pointer stays valid as long as the block lives.
    pub(crate) fn boxed<T: 'static>(&mut self, value: T) -> *mut T {
        let p = Box::into_raw(Box::new(value));
        self.parts.push(Part { ptr: p.cast(), drop: drop_boxed::<T> });
        p
    }

    /// The elements of `items` as a C array (NULL when empty).
    pub(crate) fn array<T: 'static>(&mut self, items: Vec<T>) -> *mut T {
        if items.is_empty() {
            return std::ptr::null_mut();
        }
        let v = self.boxed(items);
        // SAFETY: `v` points to the vector just boxed; its buffer never reallocates again.
        unsafe { (*v).as_mut_ptr() }
    }

    /// A NUL-terminated UTF-16 copy of `s`.
    pub(crate) fn wide(&mut self, s: &str) -> *mut u16 {
        let units: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
        self.array(units)
    }

    /// A copy of `bytes` (NULL when empty).
    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> *mut u8 {
        self.array(bytes.to_vec())
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        for part in self.parts.drain(..).rev() {
            // SAFETY: each part was made by `boxed` and is dropped exactly once, here.
            unsafe { (part.drop)(part.ptr) };
        }
    }
}

static LIVE: Mutex<Option<HashMap<usize, Block>>> = Mutex::new(None);

fn live() -> MutexGuard<'static, Option<HashMap<usize, Block>>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `block` as owned by the caller under `root`, and returns `root`.
pub(crate) fn hand_out<T>(block: Block, root: *mut T) -> *mut T {
    live().get_or_insert_with(HashMap::new).insert(root as usize, block);
    root
}

/// Releases what was handed out under `p`; `false` when `p` is not a live allocation.
pub(crate) fn free(p: *const std::ffi::c_void) -> bool {
    let block = live().as_mut().and_then(|map| map.remove(&(p as usize)));
    // Dropped outside the lock.
    block.is_some()
}

/// How many allocations the caller holds (for tests).
pub(crate) fn outstanding() -> usize {
    live().as_ref().map_or(0, HashMap::len)
}
