//! The loop's pool of handle-box memory: free lists by size class, refilled from chunks.
//!
//! Creating and closing a handle is then a pop and a push instead of a `malloc` and a
//! `free` (a third of a timer's instructions in `uvio-bench million_timers`), and boxes are
//! packed without malloc's per-block header. A box goes back to the pool only after libuv's
//! close callback, exactly where it used to be freed (`handle.rs`). The pool belongs to
//! `LoopInner`, which every box keeps alive through its `Rc`, so the chunks outlive every
//! box carved from them; they are returned to the system when the loop's last reference
//! goes. Memory freed into the pool is reused by the next handle of the same size class on
//! the same loop, not returned to the system before that.
//!
//! Built with `--cfg uvio_malloc_boxes` (as `.ci/run`'s valgrind pass is), every box is its
//! own heap allocation, freed at once and tracked in a set instead: memcheck then sees a use
//! of a box after its free, which a pool would hide by keeping the memory.
//!
//! The pool also lets the loop find its handles without a list through them
//! ([`BoxPool::for_each_block`]): every block ever carved is either free (its first word
//! links to another block, or is null) or a handle box (its first word is `uv_handle_t`'s
//! `data`, pointing at the header inside the same block).

#![cfg_attr(uvio_malloc_boxes, allow(dead_code))]

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::{Cell, RefCell};
use std::ptr::NonNull;

/// Boxes are carved at this granularity (and alignment).
const GRAIN: usize = 8;
/// The largest box (every handle box is far smaller; `HandleRef::new` checks at compile time).
pub(crate) const MAX_POOLED: usize = 1024;
/// The strictest alignment of a box.
pub(crate) const MAX_ALIGN: usize = GRAIN;
const CLASSES: usize = MAX_POOLED / GRAIN;
/// A class's first chunk; each further one is twice as large, up to [`MAX_CHUNK`].
const FIRST_CHUNK: usize = 4 << 10;
/// Below glibc's default `mmap` threshold (128 KiB), so chunks come from the heap.
const MAX_CHUNK: usize = 64 << 10;

/// A free block: its first word links to the next free block of its class.
struct FreeBlock {
    next: *mut FreeBlock,
}

struct Class {
    free: Cell<*mut FreeBlock>,
    /// The unused rest of the class's current chunk: `[bump, end)`.
    bump: Cell<*mut u8>,
    end: Cell<*mut u8>,
    next_chunk: Cell<usize>,
}

#[cfg(not(uvio_malloc_boxes))]
pub(crate) struct BoxPool {
    classes: Box<[Class]>,
    /// Every chunk allocated, with its class, freed when the pool drops.
    chunks: RefCell<Vec<(NonNull<u8>, Layout, usize)>>,
}

impl Default for Class {
    fn default() -> Class {
        Class {
            free: Cell::new(std::ptr::null_mut()),
            bump: Cell::new(std::ptr::null_mut()),
            end: Cell::new(std::ptr::null_mut()),
            next_chunk: Cell::new(FIRST_CHUNK),
        }
    }
}

#[cfg(not(uvio_malloc_boxes))]
impl BoxPool {
    pub(crate) fn new() -> BoxPool {
        BoxPool {
            classes: (0..CLASSES).map(|_| Class::default()).collect(),
            chunks: RefCell::new(Vec::new()),
        }
    }

    /// The class index of blocks for `layout`.
    #[inline]
    fn class(layout: Layout) -> usize {
        let size = layout.size();
        assert!(
            layout.align() <= MAX_ALIGN && size >= size_of::<FreeBlock>() && size <= MAX_POOLED
        );
        size.div_ceil(GRAIN) - 1
    }

    /// Memory for one value of `layout` (uninitialised); aborts like `Box` when out of memory.
    ///
    /// # Panics
    ///
    /// When `layout` is larger than [`MAX_POOLED`], aligned more strictly than
    /// [`MAX_ALIGN`], or smaller than a pointer (callers check this at compile time).
    #[inline]
    pub(crate) fn alloc(&self, layout: Layout) -> NonNull<u8> {
        let i = Self::class(layout);
        let c = &self.classes[i];
        let head = c.free.get();
        if let Some(block) = NonNull::new(head) {
            // SAFETY: a block on the free list was carved from a live chunk and its first
            // word was written by `free`.
            c.free.set(unsafe { (*head).next });
            return block.cast();
        }
        let size = (i + 1) * GRAIN;
        if c.end.get().addr() - c.bump.get().addr() < size {
            self.refill(i);
        }
        let p = c.bump.get();
        // SAFETY: `[bump, end)` lies within one chunk and holds at least `size` bytes.
        c.bump.set(unsafe { p.add(size) });
        // SAFETY: `p` points into a chunk, never null.
        unsafe { NonNull::new_unchecked(p) }
    }

    /// Gives a new chunk to `c` (the rest of its current one, smaller than a block, is left).
    #[cold]
    fn refill(&self, i: usize) {
        let c = &self.classes[i];
        let bytes = c.next_chunk.get();
        c.next_chunk.set((bytes * 2).min(MAX_CHUNK));
        let layout = Layout::from_size_align(bytes, GRAIN).expect("chunk layout");
        // SAFETY: a non-zero size.
        let Some(chunk) = NonNull::new(unsafe { alloc(layout) }) else {
            handle_alloc_error(layout)
        };
        self.chunks.borrow_mut().push((chunk, layout, i));
        c.bump.set(chunk.as_ptr());
        // SAFETY: one past the end of the chunk.
        c.end.set(unsafe { chunk.as_ptr().add(bytes) });
    }

    /// Returns memory from [`BoxPool::alloc`] with the same `layout`.
    ///
    /// # Safety
    ///
    /// `p` came from this pool's `alloc(layout)`, is not used afterwards, and holds no value
    /// that still needs dropping.
    #[inline]
    pub(crate) unsafe fn free(&self, p: NonNull<u8>, layout: Layout) {
        let c = &self.classes[Self::class(layout)];
        let block = p.as_ptr().cast::<FreeBlock>();
        // SAFETY: `p` is a block of this class (at least a word, aligned to GRAIN) that
        // nothing uses any more.
        unsafe { block.write(FreeBlock { next: c.free.get() }) };
        c.free.set(block);
    }

    /// Calls `f(block, size)` for every block ever handed out by [`BoxPool::alloc`] (free
    /// again or not). `f` must not allocate from or free into this pool.
    pub(crate) fn for_each_block(&self, mut f: impl FnMut(NonNull<u8>, usize)) {
        for &(chunk, layout, i) in self.chunks.borrow().iter() {
            let size = (i + 1) * GRAIN;
            let start = chunk.as_ptr();
            let c = &self.classes[i];
            // The class's current chunk is carved up to `bump`; older ones as far as whole
            // blocks fit.
            // SAFETY: one past the end of the chunk.
            let carved = if c.end.get() == unsafe { start.add(layout.size()) } {
                c.bump.get().addr() - start.addr()
            } else {
                layout.size() / size * size
            };
            for off in (0..carved).step_by(size) {
                // SAFETY: `off` is within the chunk, which is never null.
                f(unsafe { NonNull::new_unchecked(start.add(off)) }, size);
            }
        }
    }
}

#[cfg(not(uvio_malloc_boxes))]
impl Drop for BoxPool {
    fn drop(&mut self) {
        for (chunk, layout, _) in self.chunks.get_mut().drain(..) {
            // SAFETY: allocated in `refill` with this layout; the pool is going away, and
            // with it (it is owned by the loop every box references) every box.
            unsafe { dealloc(chunk.as_ptr(), layout) };
        }
    }
}

/// The checking variant: one heap allocation per box, and a set of the live ones.
#[cfg(uvio_malloc_boxes)]
pub(crate) struct BoxPool {
    live: RefCell<std::collections::BTreeMap<usize, (NonNull<u8>, usize)>>,
}

#[cfg(uvio_malloc_boxes)]
impl BoxPool {
    pub(crate) fn new() -> BoxPool {
        BoxPool {
            live: RefCell::new(std::collections::BTreeMap::new()),
        }
    }

    /// Memory for one value of `layout`, from the global allocator.
    pub(crate) fn alloc(&self, layout: Layout) -> NonNull<u8> {
        assert!(layout.align() <= MAX_ALIGN && layout.size() >= size_of::<FreeBlock>());
        // SAFETY: a non-zero size.
        let Some(p) = NonNull::new(unsafe { alloc(layout) }) else {
            handle_alloc_error(layout)
        };
        // A word that links nowhere until the box is written (as a free block's would).
        // SAFETY: at least a word, suitably aligned.
        unsafe {
            p.as_ptr().cast::<FreeBlock>().write(FreeBlock {
                next: std::ptr::null_mut(),
            })
        };
        self.live
            .borrow_mut()
            .insert(p.as_ptr().addr(), (p, layout.size()));
        p
    }

    /// Frees memory from [`BoxPool::alloc`] at once.
    ///
    /// # Safety
    ///
    /// As for the pooled variant.
    pub(crate) unsafe fn free(&self, p: NonNull<u8>, layout: Layout) {
        self.live.borrow_mut().remove(&p.as_ptr().addr());
        // SAFETY: allocated by `alloc` with this layout and unused from now on.
        unsafe { dealloc(p.as_ptr(), layout) };
    }

    /// Calls `f(block, size)` for every live block.
    pub(crate) fn for_each_block(&self, mut f: impl FnMut(NonNull<u8>, usize)) {
        let blocks: Vec<(NonNull<u8>, usize)> = self.live.borrow().values().copied().collect();
        for (p, size) in blocks {
            f(p, size);
        }
    }
}

#[cfg(all(test, not(uvio_malloc_boxes)))]
mod tests {
    use super::*;

    #[test]
    fn reuses_blocks_by_class_and_walks_every_carved_block() {
        let pool = BoxPool::new();
        let small = Layout::from_size_align(216, 8).unwrap();
        let a = pool.alloc(small);
        let b = pool.alloc(small);
        assert_eq!(b.as_ptr().addr() - a.as_ptr().addr(), 216);
        // SAFETY: from this pool with this layout, unused afterwards.
        unsafe { pool.free(a, small) };
        assert_eq!(pool.alloc(small), a);
        let other = Layout::from_size_align(104, 8).unwrap();
        let c = pool.alloc(other);
        // Many blocks: several chunks, all distinct.
        let mut blocks: Vec<_> = (0..1000).map(|_| pool.alloc(small)).collect();
        blocks.extend([a, b]);
        let mut addrs: Vec<_> = blocks.iter().map(|p| p.as_ptr().addr()).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), 1002);
        let mut walked = Vec::new();
        pool.for_each_block(|p, size| walked.push((p.as_ptr().addr(), size)));
        walked.sort_unstable();
        let mut expected: Vec<_> = addrs.iter().map(|&a| (a, 216)).collect();
        expected.push((c.as_ptr().addr(), 104));
        expected.sort_unstable();
        assert_eq!(walked, expected);
    }
}
