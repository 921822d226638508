#include "lock_class.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "atomic.h"
#include "debug.h"
#include "wait_lock.h"

/*
 * A chained hash table of names, in memory from mmap rather than malloc: a name may be
 * interned from inside a pthread_mutex_lock under libkmutex-pthread, where a malloc that
 * locks a pthread mutex would recurse.  Entries are never freed (names are few and live
 * as long as the classes they name).
 */
#define NAME_BUCKETS 1024u
#define ARENA_BYTES  (64u * 1024u)
#define NAME_MAX_LEN 256u /* longer names are cut; a class name is for people to read */

struct name_entry {
	struct name_entry *next;
	char name[];
};

static uint32_t names_lock; /* a kmx_wait_lock word; guards everything below */
static struct name_entry *buckets[NAME_BUCKETS];
static char *arena;
static size_t arena_left;

static uint32_t hash_name(const char *name, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h;
}

/* Under names_lock. */
static void *arena_alloc(size_t size)
{
	void *p;

	size = (size + 15) & ~(size_t)15;
	if (size > arena_left) {
		void *mem = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (mem == MAP_FAILED)
			kmx_fatal("out of memory for kmutex lock class names");
		arena = mem;
		arena_left = ARENA_BYTES;
	}
	p = arena;
	arena += size;
	arena_left -= size;
	return p;
}

const char *kmx_class_intern(const char *name)
{
	size_t len = strnlen(name, NAME_MAX_LEN - 1);
	struct name_entry **bucket = &buckets[hash_name(name, len) % NAME_BUCKETS], *e;

	kmx_wait_lock(&names_lock);
	for (e = *bucket; e; e = e->next)
		if (strncmp(e->name, name, len) == 0 && e->name[len] == '\0')
			break;
	if (!e) {
		e = arena_alloc(sizeof(*e) + len + 1);
		memcpy(e->name, name, len);
		e->name[len] = '\0';
		e->next = *bucket;
		*bucket = e;
	}
	kmx_wait_unlock(&names_lock);
	return e->name;
}
