# pipelines/probes.sh: the probes the pipelines fit, score and tabulate,
# sourced by probe-epoch, summarize, final-table and plot (and PROBES set
# for dynamics.mk reaches them through the environment). The one place
# that names them on this side; lib/probe/probes.c registers every probe there
# is.
#
# PROBES: the probes, in the order of the rows, columns and figures:
# the environment's, else the default. figures: the first one's accuracy
# per layer, the second's minus the first's.
PROBES=${PROBES:-masc velpic}
read -r -a probe_names <<<"$PROBES"
[ "${#probe_names[@]}" -gt 0 ] || { echo "${0##*/}: PROBES is empty" >&2; exit 2; }

# probe_title NAME: the probe's name in tables and figures.
probe_title() {
	case $1 in
	masc) echo MASC ;;
	velpic) echo VeLPIC ;;
	*) echo "$1" ;;
	esac
}

# probe_titles: every probe's title, space-separated, in PROBES order.
probe_titles() {
	local p t=()
	for p in "${probe_names[@]}"; do t+=("$(probe_title "$p")"); done
	echo "${t[*]}"
}

# probe_fit NAME OUT VAR < training stream: fit the probe quietly, with the
# explained-variance threshold VAR where the probe has a k rule.
probe_fit() {
	case $1 in
	masc) "$1" fit -q --var "$3" -o "$2" ;;
	*) "$1" fit -q -o "$2" ;;
	esac
}
