# Condense `spin -t -p -g` (a replayed counterexample of verify/kmutex.pml) to the steps that
# touch shared state, one line each: step, thread, model line, statement, and the owner word
# decoded after it changed.  Usage: spin -t -p -g [-D...] kmutex.pml | awk -f trail.awk
# Thread Tn is the process run as thread(n); monitor is pid 0, init pid 1, so Tn has pid n+1.

function owner(w,   s) {
	s = (int(w / 16) ? "T" int(w / 16) : "free")
	if (w % 2) s = s "|WAITERS"
	if (int(w / 2) % 2) s = s "|HANDOFF"
	if (int(w / 4) % 2) s = s "|PICKUP"
	if (int(w / 8) % 2) s = s "|AWAKE"
	return s
}

/^Starting sig with pid/ { sigpid[$5] = 1 }
/signal to T[0-9]/ { sub(/^ */, ""); print "                    " $0; next }
/^ *[0-9]+:\tproc/ {
	step = $1; pid = $3
	match($0, /\.pml:[0-9]+/); where = substr($0, RSTART + 5, RLENGTH - 5)
	match($0, /\[.*\]$/); stmt = substr($0, RSTART, RLENGTH)
	who = (pid in sigpid) ? "signal" : (pid >= 2 ? "T" (pid - 1) : "")
	if (who == "") next
	if (stmt ~ /\[(ncs|i_|o|nword|first|signalled) = 0\]|\[i_ =|assert/) next  # bookkeeping; a failing assert is shown below
	if (stmt ~ /(word|wl|list\[|nw|wake\[|infutex\[|pending\[|hreq)[^=]*=[^=]/ ||
	    stmt ~ /o = word|ret = [12]|first = |signalled = |asleep = \(/ ||
	    stmt ~ /wl==0|infutex\[me\]!=1|list\[0\]==me/) {
		line = sprintf("%5s %-6s l.%-4s %s", step, who, where, stmt)
		print line
	}
	next
}
/^\t\tword = / { if ($3 != lastword) { print "                    owner word: " owner($3); lastword = $3 } }
/START OF CYCLE/ { print "  >> " $0 " (from here the run repeats forever: a thread never finishes)" }
/Error: assertion violated|invalid end state|acceptance cycle/ { print "  >> " $0 }
/^spin: text of failed assertion/ { print "  >> " $0 }
