//! The few Node-API functions this addon uses, declared by hand (no N-API framework), and
//! small helpers over them.
//!
//! The functions are left undefined in the cdylib; the dynamic loader binds them to the ones
//! the `node` executable exports when `process.dlopen` loads the addon.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};
use std::ptr::null_mut;

macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name { _p: [u8; 0] }
    )*};
}
opaque!(
    Env,
    Value,
    CallbackInfo,
    Deferred,
    Ref,
    AsyncContext,
    HandleScope,
    CallbackScope,
    CleanupHook
);

pub type napi_env = *mut Env;
pub type napi_value = *mut Value;
pub type napi_callback_info = *mut CallbackInfo;
pub type napi_deferred = *mut Deferred;
pub type napi_ref = *mut Ref;
pub type napi_async_context = *mut AsyncContext;
pub type napi_handle_scope = *mut HandleScope;
pub type napi_callback_scope = *mut CallbackScope;
pub type napi_async_cleanup_hook_handle = *mut CleanupHook;
pub type napi_status = i32;
pub type napi_callback = Option<unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value>;
pub type napi_finalize = Option<unsafe extern "C" fn(napi_env, *mut c_void, *mut c_void)>;
pub type napi_async_cleanup_hook =
    Option<unsafe extern "C" fn(napi_async_cleanup_hook_handle, *mut c_void)>;

pub const OK: napi_status = 0;

unsafe extern "C" {
    pub fn napi_get_uv_event_loop(env: napi_env, lp: *mut *mut uvio::ffi::uv_loop_t)
    -> napi_status;
    pub fn napi_set_instance_data(
        env: napi_env,
        data: *mut c_void,
        finalize_cb: napi_finalize,
        hint: *mut c_void,
    ) -> napi_status;
    pub fn napi_get_instance_data(env: napi_env, data: *mut *mut c_void) -> napi_status;
    pub fn napi_add_async_cleanup_hook(
        env: napi_env,
        hook: napi_async_cleanup_hook,
        arg: *mut c_void,
        handle: *mut napi_async_cleanup_hook_handle,
    ) -> napi_status;
    pub fn napi_remove_async_cleanup_hook(handle: napi_async_cleanup_hook_handle) -> napi_status;

    pub fn napi_create_function(
        env: napi_env,
        name: *const c_char,
        len: usize,
        cb: napi_callback,
        data: *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_get_cb_info(
        env: napi_env,
        info: napi_callback_info,
        argc: *mut usize,
        argv: *mut napi_value,
        this: *mut napi_value,
        data: *mut *mut c_void,
    ) -> napi_status;
    pub fn napi_set_named_property(
        env: napi_env,
        object: napi_value,
        name: *const c_char,
        value: napi_value,
    ) -> napi_status;
    pub fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_create_object(env: napi_env, result: *mut napi_value) -> napi_status;
    pub fn napi_create_double(env: napi_env, v: f64, result: *mut napi_value) -> napi_status;
    pub fn napi_create_string_utf8(
        env: napi_env,
        s: *const c_char,
        len: usize,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_create_buffer_copy(
        env: napi_env,
        len: usize,
        data: *const c_void,
        result_data: *mut *mut c_void,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_create_error(
        env: napi_env,
        code: napi_value,
        msg: napi_value,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_throw(env: napi_env, error: napi_value) -> napi_status;
    pub fn napi_get_value_double(env: napi_env, v: napi_value, result: *mut f64) -> napi_status;
    pub fn napi_get_value_string_utf8(
        env: napi_env,
        v: napi_value,
        buf: *mut c_char,
        bufsize: usize,
        result: *mut usize,
    ) -> napi_status;
    pub fn napi_typeof(env: napi_env, v: napi_value, result: *mut i32) -> napi_status;

    pub fn napi_create_promise(
        env: napi_env,
        deferred: *mut napi_deferred,
        promise: *mut napi_value,
    ) -> napi_status;
    pub fn napi_resolve_deferred(env: napi_env, d: napi_deferred, v: napi_value) -> napi_status;
    pub fn napi_reject_deferred(env: napi_env, d: napi_deferred, v: napi_value) -> napi_status;

    pub fn napi_create_reference(
        env: napi_env,
        v: napi_value,
        count: u32,
        result: *mut napi_ref,
    ) -> napi_status;
    pub fn napi_get_reference_value(
        env: napi_env,
        r: napi_ref,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_delete_reference(env: napi_env, r: napi_ref) -> napi_status;

    pub fn napi_open_handle_scope(env: napi_env, result: *mut napi_handle_scope) -> napi_status;
    pub fn napi_close_handle_scope(env: napi_env, scope: napi_handle_scope) -> napi_status;
    pub fn napi_async_init(
        env: napi_env,
        resource: napi_value,
        name: napi_value,
        result: *mut napi_async_context,
    ) -> napi_status;
    pub fn napi_async_destroy(env: napi_env, ctx: napi_async_context) -> napi_status;
    pub fn napi_make_callback(
        env: napi_env,
        ctx: napi_async_context,
        recv: napi_value,
        func: napi_value,
        argc: usize,
        argv: *const napi_value,
        result: *mut napi_value,
    ) -> napi_status;
    pub fn napi_open_callback_scope(
        env: napi_env,
        resource: napi_value,
        ctx: napi_async_context,
        result: *mut napi_callback_scope,
    ) -> napi_status;
    pub fn napi_close_callback_scope(env: napi_env, scope: napi_callback_scope) -> napi_status;
    pub fn napi_fatal_exception(env: napi_env, err: napi_value) -> napi_status;
    pub fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
    pub fn napi_get_and_clear_last_exception(env: napi_env, result: *mut napi_value)
    -> napi_status;
}

/// `napi_typeof`'s `napi_function`.
pub const TYPE_FUNCTION: i32 = 7;

/// A failed N-API call: its status.
#[derive(Debug, Clone, Copy)]
pub struct Status(pub napi_status);

/// Turns a status into a `Result`.
pub fn ok(s: napi_status) -> Result<(), Status> {
    if s == OK { Ok(()) } else { Err(Status(s)) }
}

/// Calls an N-API function that writes its result through an out-pointer.
///
/// # Safety
///
/// `f` must be an N-API call that initialises its out argument when it returns `napi_ok`.
pub unsafe fn out<T>(f: impl FnOnce(*mut T) -> napi_status) -> Result<T, Status> {
    let mut v = std::mem::MaybeUninit::<T>::uninit();
    ok(f(v.as_mut_ptr()))?;
    // SAFETY: the call returned napi_ok, so it wrote the value (the caller's contract).
    Ok(unsafe { v.assume_init() })
}

/// A JS string.
///
/// # Safety
///
/// `env` is a live env on this thread, inside a handle scope.
pub unsafe fn string(env: napi_env, s: &str) -> Result<napi_value, Status> {
    // SAFETY: `s` is valid for `len` bytes; the out-pointer is written on success.
    unsafe { out(|r| napi_create_string_utf8(env, s.as_ptr().cast(), s.len(), r)) }
}

/// A JS number.
///
/// # Safety
///
/// As [`string`].
pub unsafe fn number(env: napi_env, v: f64) -> Result<napi_value, Status> {
    // SAFETY: the out-pointer is written on success.
    unsafe { out(|r| napi_create_double(env, v, r)) }
}

/// `undefined`.
///
/// # Safety
///
/// As [`string`].
pub unsafe fn undefined(env: napi_env) -> Result<napi_value, Status> {
    // SAFETY: the out-pointer is written on success.
    unsafe { out(|r| napi_get_undefined(env, r)) }
}

/// An `Error` whose `code` property is `code`.
///
/// # Safety
///
/// As [`string`].
pub unsafe fn error(env: napi_env, code: &str, msg: &str) -> Result<napi_value, Status> {
    // SAFETY: as above; both strings are fresh JS values.
    unsafe {
        let c = string(env, code)?;
        let m = string(env, msg)?;
        out(|r| napi_create_error(env, c, m, r))
    }
}

/// Sets `obj[name] = v`; `name` ends with a NUL.
///
/// # Safety
///
/// As [`string`]; `obj` is an object.
pub unsafe fn set(env: napi_env, obj: napi_value, name: &str, v: napi_value) -> Result<(), Status> {
    debug_assert!(name.ends_with('\0'));
    // SAFETY: `name` is NUL-terminated; `obj` and `v` are live values in the current scope.
    ok(unsafe { napi_set_named_property(env, obj, name.as_ptr().cast(), v) })
}

/// An open handle scope, closed on drop.
pub struct Scope(napi_env, napi_handle_scope);

impl Scope {
    /// Opens a handle scope.
    ///
    /// # Safety
    ///
    /// `env` is a live env on this thread.
    pub unsafe fn open(env: napi_env) -> Result<Scope, Status> {
        // SAFETY: the out-pointer is written on success.
        let s = unsafe { out(|r| napi_open_handle_scope(env, r))? };
        Ok(Scope(env, s))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // SAFETY: the scope was opened on this env and is closed once.
        unsafe { napi_close_handle_scope(self.0, self.1) };
    }
}

/// Reads the arguments of a JS call (at most `N`; missing ones are `undefined`).
///
/// # Safety
///
/// `env` and `info` are the arguments of the running N-API callback.
pub unsafe fn args<const N: usize>(
    env: napi_env,
    info: napi_callback_info,
) -> Result<[napi_value; N], Status> {
    let mut argv = [null_mut(); N];
    let mut argc = N;
    // SAFETY: `argv` has room for `argc` values; the other outputs are not requested.
    ok(unsafe {
        napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            null_mut(),
            null_mut(),
        )
    })?;
    Ok(argv)
}
