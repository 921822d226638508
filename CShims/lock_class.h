/*
 * Lock class names.  A kmutex names its class with one pointer (struct kmutex.name): the
 * variable's name for DEFINE_KMUTEX, a copy interned here for kmutex_set_name.  Interning
 * gives every distinct name one address, so classes can be keyed by the pointer.
 */
#ifndef KMX_LOCK_CLASS_H
#define KMX_LOCK_CLASS_H

/* The interned copy of name: the same pointer for every call with an equal string. */
const char *kmx_class_intern(const char *name);

#endif /* KMX_LOCK_CLASS_H */
