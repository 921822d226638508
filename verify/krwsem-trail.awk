# Condense `spin -t -p -g` (a replayed counterexample of verify/krwsem.pml) to the steps that
# touch shared state, one line each: step, thread, model line, statement, and the count decoded
# after it changed.  Usage: spin -t -p -g [-D...] krwsem.pml | awk -f krwsem-trail.awk
# Thread Tn is the process run as thread(n); monitor is pid 0, init pid 1, so Tn has pid n+1.

function count(c,   s) {
	s = int(c / 16) " readers"
	if (c % 2) s = s "|WRITER_LOCKED"
	if (int(c / 2) % 2) s = s "|WAITERS"
	if (int(c / 4) % 2) s = s "|HANDOFF"
	if (int(c / 8) % 2) s = s "|WOKEN"
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
	if (stmt ~ /\[(c|r|adj|probe|head|signalled|washead|stood) = 0\]|\[(i_|j_|w_) =|assert/) next
	if (stmt ~ /(cnt|wl|list\[|nw|wake\[|infutex\[|pending\[|granted\[|hset\[|hreq|rown|nrh|nwh)[^=]*=[^=]/ ||
	    stmt ~ /c = cnt|ret = [12]|signalled = |r = !|r = 1\]/ || stmt ~ /wl==0|infutex\[me\]!=1/) {
		printf("%5s %-6s l.%-4s %s\n", step, who, where, stmt)
	}
	next
}
/^\t\tcnt = / { if ($3 != last) { print "                    count: " count($3); last = $3 } }
/START OF CYCLE/ { print "  >> " $0 " (from here the run repeats forever: a thread never finishes)" }
/Error: assertion violated|invalid end state|acceptance cycle/ { print "  >> " $0 }
/^spin: text of failed assertion/ { print "  >> " $0 }
