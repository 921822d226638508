#!/usr/bin/env bash
# Plots kmutex-bench's results in DIR with gnuplot: throughput.png (ops/s against threads, one
# panel per critical-section length, bars from min to max over trials), waitcdf.png (the
# acquisition-wait CDF and its tail), perthread.png (each thread's acquisitions over the mean);
# and krwsem-bench's (rwtp_*.dat): rw_throughput.png (ops/s against threads, one panel per
# share of writes).
set -euo pipefail
dir=${1:?usage: plot.sh RESULTS_DIR}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found: no plots (apt-get install gnuplot-nox)" >&2; exit 0; }

if gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo; then
	term="pngcairo size 1400,1000 font 'Sans,10'"
else
	term="png size 1400,1000"
fi

tp_files=$(cd "$dir" && ls tp_*.dat 2>/dev/null || true)
cdf_files=$(cd "$dir" && ls cdf_*.dat 2>/dev/null || true)
rwtp_files=$(cd "$dir" && ls rwtp_*.dat 2>/dev/null || true)
name_of() { local f=${1#*_}; echo "${f%.dat}"; }
# One look per lock in every plot: kmutex and its two ablations in reds, dashed ablations.
style_of() {
	case $1 in
	kmutex) echo "lc rgb '#d62728' lw 3" ;;
	kmutex-nohandoff) echo "lc rgb '#ff9896' lw 2 dt 2" ;;
	kmutex-nospin) echo "lc rgb '#ff7f0e' lw 2 dt 4" ;;
	pthread-normal) echo "lc rgb '#1f77b4' lw 2" ;;
	pthread-adaptive) echo "lc rgb '#17becf' lw 2" ;;
	ttas) echo "lc rgb '#7f7f7f' lw 2" ;;
	ck-mcs) echo "lc rgb '#8c564b' lw 2" ;;
	absl) echo "lc rgb '#2ca02c' lw 2" ;;
	swift-mutex) echo "lc rgb '#9467bd' lw 2" ;;
	krwsem) echo "lc rgb '#d62728' lw 3" ;;
	glibc-rw) echo "lc rgb '#1f77b4' lw 2" ;;
	glibc-rw-writer) echo "lc rgb '#17becf' lw 2 dt 2" ;;
	absl-rw) echo "lc rgb '#2ca02c' lw 2" ;;
	*) echo "lw 2" ;;
	esac
}

# The critical-section lengths, in the order of the data blocks (gnuplot's index).
cs_list=()
if [ -n "$tp_files" ]; then
	first=$(echo "$tp_files" | head -1)
	while read -r _ _ ns _; do cs_list+=("${ns%:}"); done < <(grep '^# cs_ns' "$dir/$first")
fi
cs_title() { if [ "$1" = 0 ]; then echo "empty"; elif [ "$1" -lt 1000 ]; then echo "${1} ns"; else echo "$(( $1 / 1000 )) us"; fi; }

{
	echo "set terminal $term"
	echo "set datafile commentschars '#'"
	echo "set key outside right top"
	echo "set grid"

	if [ ${#cs_list[@]} -gt 0 ]; then
		echo "set output '$dir/throughput.png'"
		rows=$(( (${#cs_list[@]} + 1) / 2 ))
		echo "set multiplot layout $rows,2 title 'Throughput: ops/s by thread count (median, bars min-max over trials)'"
		echo "set logscale x 2; set logscale y 10; set format y '%g'"
		echo "set xlabel 'threads'; set ylabel 'Mops/s'"
		for i in "${!cs_list[@]}"; do
			echo "set title 'critical section $(cs_title "${cs_list[$i]}")'"
			plot="plot "
			for f in $tp_files; do
				plot+="'$dir/$f' index $i using 1:(\$2/1e6):(\$3/1e6):(\$4/1e6) with yerrorlines $(style_of "$(name_of "$f")") title '$(name_of "$f")', "
			done
			echo "${plot%, }"
		done
		echo "unset multiplot"
		echo "unset logscale"
	fi

	if [ -n "$rwtp_files" ]; then
		echo "set output '$dir/rw_throughput.png'"
		echo "set multiplot layout 3,2 title 'Reader-writer locks: ops/s by thread count (median, bars min-max over trials)'"
		echo "set logscale x 2; set logscale y 10; set format y '%g'"
		echo "set xlabel 'threads'; set ylabel 'Mops/s'"
		i=0
		while read -r _ _ permille _; do
			echo "set title 'writes: $(awk -v p="${permille%:}" 'BEGIN { printf "%g%%", p / 10 }')'"
			plot="plot "
			for f in $rwtp_files; do
				n=$(name_of "$f")
				# here kmutex is the plain-mutex baseline, beside krwsem's red
				if [ "$n" = kmutex ]; then st="lc rgb '#ff7f0e' lw 2 dt 4"; else st=$(style_of "$n"); fi
				plot+="'$dir/$f' index $i using 1:(\$2/1e6):(\$3/1e6):(\$4/1e6) with yerrorlines $st title '$n', "
			done
			echo "${plot%, }"
			i=$((i + 1))
		done < <(grep '^# write_permille' "$dir/$(echo "$rwtp_files" | head -1)")
		echo "unset multiplot"
		echo "unset logscale"
	fi

	if [ -n "$cdf_files" ]; then
		echo "set output '$dir/waitcdf.png'"
		echo "set multiplot layout 2,1 title 'Acquisition wait time'"
		echo "set logscale x 10; set format x '10^{%L}'; set xlabel 'wait (ns)'"
		echo "set ylabel 'fraction of acquisitions <= wait'; set yrange [0:1]"
		echo "set title 'CDF'"
		plot="plot "
		for f in $cdf_files; do plot+="'$dir/$f' using 1:2 with steps $(style_of "$(name_of "$f")") title '$(name_of "$f")', "; done
		echo "${plot%, }"
		echo "set title 'tail: fraction of acquisitions that waited longer (1 - CDF)'"
		echo "set logscale y 10; set yrange [1e-5:1]; set ylabel 'fraction > wait'"
		plot="plot "
		for f in $cdf_files; do plot+="'$dir/$f' using 1:(1-\$2 > 0 ? 1-\$2 : 1/0) with steps $(style_of "$(name_of "$f")") title '$(name_of "$f")', "; done
		echo "${plot%, }"
		echo "unset multiplot"
		echo "unset logscale; set autoscale y"
	fi

	if [ -f "$dir/perthread.dat" ]; then
		echo "set output '$dir/perthread.png'"
		echo "set title 'Per-thread acquisitions over the lock''s mean (1 = fair share), wait-time run'"
		nthreads=$(( $(wc -l < "$dir/perthread.dat") - 1 ))
		locks=$(head -1 "$dir/perthread.dat" | cut -d' ' -f2-)
		nlocks=$(echo "$locks" | wc -w)
		# bars of one thread side by side around its x, 80% of the slot filled
		width=$(awk -v n="$nlocks" 'BEGIN { printf "%.4f", 0.8 / n }')
		echo "set xlabel 'thread'; set ylabel 'acquisitions / mean'; set yrange [0:*]"
		echo "set xrange [-0.5:$nthreads - 0.5]; set xtics 1; set format x '%g'"
		echo "set boxwidth $width; set style fill solid 0.8 border -1"
		plot="plot 1 with lines lc rgb 'black' dt 3 notitle, "
		c=2
		for l in $locks; do
			offset=$(awk -v i="$c" -v n="$nlocks" -v w="$width" 'BEGIN { printf "%.4f", (i - 2 - (n - 1) / 2) * w }')
			plot+="'$dir/perthread.dat' using (\$1 + $offset):$c with boxes $(style_of "$l" | sed 's/ lw [0-9]*//; s/ dt [0-9]*//') title '$l', "
			c=$((c + 1))
		done
		echo "${plot%, }"
	fi
} > "$dir/plots.gp"

gnuplot "$dir/plots.gp"
for p in throughput waitcdf perthread rw_throughput; do [ -f "$dir/$p.png" ] && echo "plot: $dir/$p.png"; done
exit 0
