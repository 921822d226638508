#include "symbolize.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : (path ? path : "?");
}

void kmx_symbolize(char *buf, size_t size, const void *ip)
{
	Dl_info info;

	if (ip && dladdr(ip, &info) && info.dli_sname)
		snprintf(buf, size, "%s+0x%lx [%s]", info.dli_sname,
			 (unsigned long)((const char *)ip - (const char *)info.dli_saddr),
			 base_name(info.dli_fname));
	else if (ip && dladdr(ip, &info) && info.dli_fname)
		snprintf(buf, size, "%p [%s+0x%lx]", ip, base_name(info.dli_fname),
			 (unsigned long)((const char *)ip - (const char *)info.dli_fbase));
	else
		snprintf(buf, size, "%p", ip);
}

void kmx_symbolize_data(char *buf, size_t size, const void *addr)
{
	Dl_info info;

	unsigned long off;

	if (!addr || !dladdr(addr, &info) || !info.dli_sname || !info.dli_saddr) {
		if (size)
			buf[0] = '\0';
		return;
	}
	off = (unsigned long)((const char *)addr - (const char *)info.dli_saddr);
	if (off)
		snprintf(buf, size, "&%s+0x%lx [%s]", info.dli_sname, off, base_name(info.dli_fname));
	else
		snprintf(buf, size, "&%s [%s]", info.dli_sname, base_name(info.dli_fname));
}
