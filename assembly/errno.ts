// Kernel errno values, negated as the core returns them.
export const ENOENT: i32 = -2;
export const ESRCH: i32 = -3;
export const ENOMEM: i32 = -12;
export const EACCES: i32 = -13;
export const EFAULT: i32 = -14;
export const EEXIST: i32 = -17;
export const EINVAL: i32 = -22;
