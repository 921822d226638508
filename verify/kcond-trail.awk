# Condense `spin -t -p -g` of a verify/kcond.pml counterexample to the steps on shared state,
# one line each: step, thread, model line, statement; the owner word decoded when it changes.
# Thread Tn is pid n+1 (monitor pid 0, init pid 1); signal processes come last.
function owner(w,   s) {
	s = (int(w / 4) ? "T" int(w / 4) : "free")
	if (w % 2) s = s "|WAITERS"
	if (int(w / 2) % 2) s = s "|AWAKE"
	return s
}
/^Starting sig with pid/ { sigpid[$5] = 1 }
/^ *[0-9]+:\tproc/ {
	step = $1; pid = $3
	match($0, /\.pml:[0-9]+/); where = substr($0, RSTART + 5, RLENGTH - 5)
	match($0, /\[.*\]$/); stmt = substr($0, RSTART, RLENGTH)
	who = (pid in sigpid) ? "signal" : (pid >= 2 ? "T" (pid - 1) : "")
	if (who == "" || stmt ~ /assert|i_/) next
	if (stmt ~ /(word|wl|ml\[|mn|cl|cq\[|cn|refs|wake\[|infutex\[|pending\[|state\[|items|holder|destroyed|spur)[^=]*=[^=]/ ||
	    stmt ~ /state\[me\]|asleep = |r = \(\(word|ret = [1-3]|expired = 1/) {
		printf("%5s %-6s l.%-4s %s\n", step, who, where, stmt)
	}
	next
}
/^\t\tword = / { if ($3 != lastword) { print "                    owner word: " owner($3); lastword = $3 } }
/START OF CYCLE/ { print "  >> " $0 }
/Error: assertion violated|invalid end state|acceptance cycle/ { print "  >> " $0 }
/^spin: text of failed assertion/ { print "  >> " $0 }
