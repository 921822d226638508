/* Stand-in for glibc's internal pthreadP.h: the tests that include it use the public API and
 * glibc's public pthread_mutex_t fields (__data.__nusers), which <pthread.h> declares. */
#include <pthread.h>
