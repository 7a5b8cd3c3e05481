
# Shared helpers for the pg_background TAP tests.
#
# Every test file gets its own throwaway cluster (PostgreSQL::Test::Cluster) with
# pg_background created.  Sessions that must outlive one statement (a launcher holding
# handles, a role switch, an interrupted wait) are long-lived psql processes driven with
# PostgreSQL::Test::BackgroundPsql; each statement's stdout and stderr come back
# separately so that an expected error can be checked by its SQLSTATE.
#
# Nothing here sleeps to decide an outcome: progress is observed with
# poll_query_until, and a statement that never returns fails the test through the
# per-statement psql timeout (PG_TEST_TIMEOUT_DEFAULT, set by run.sh).

package PgbgTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(handle_ops reject_all list_sql new_node open_session sql sql_ok sql_err sqlstate_is
  launch drain kinds wait_until close_monitors worker_pids worker_count wait_no_workers dsm_count);

# Every operation on a v2 handle, as [name, sprintf format taking pid and cookie].
sub handle_ops
{
	return (
		[ 'result_v2', 'SELECT * FROM pg_background_result_v2(%d, %s) AS (x text)' ],
		[ 'fetch_v2', 'SELECT * FROM pg_background_fetch_v2(%d, %s)' ],
		[ 'fetch_v2 waiting', 'SELECT * FROM pg_background_fetch_v2(%d, %s, 10, 100)' ],
		[ 'wait_v2', 'SELECT pg_background_wait_v2(%d, %s)' ],
		[ 'wait_v2_timeout', 'SELECT pg_background_wait_v2_timeout(%d, %s, 10)' ],
		[ 'cancel_v2', 'SELECT pg_background_cancel_v2(%d, %s)' ],
		[ 'cancel_v2_grace', 'SELECT pg_background_cancel_v2_grace(%d, %s, 10)' ],
		[ 'get_progress_v2', 'SELECT * FROM pg_background_get_progress_v2(%d, %s)' ],
		[ 'detach_v2', 'SELECT pg_background_detach_v2(%d, %s)' ],);
}

# Runs every handle operation in session $s; each must fail with one of @$states.
sub reject_all
{
	my ($s, $what, $pid, $cookie, $states) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	for my $op (handle_ops())
	{
		sql_err($s, sprintf($op->[1], $pid, $cookie), $states, "$what: $op->[0] rejected");
	}
}

# list_v2 with its column definition list, selecting $cols (default count(*)).
sub list_sql
{
	my ($cols, $where) = @_;
	return 'SELECT ' . ($cols // 'count(*)')
	  . ' FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz,'
	  . ' user_id oid, queue_size int4, state text, sql_preview text, last_error text,'
	  . ' consumed bool)'
	  . (defined $where ? " WHERE $where" : '');
}

# A started cluster with pg_background created.  %conf adds postgresql.conf lines
# (initdb => [...] passes options to initdb instead).
sub new_node
{
	my ($name, %conf) = @_;
	my $initdb = delete $conf{initdb} // [];
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(extra => $initdb);
	my %settings = (
		max_worker_processes => 16,
		# parallel query would compete with our workers for slots
		max_parallel_workers_per_gather => 0,
		# segments become files in pg_dynshmem/, so leaks are countable per cluster
		dynamic_shared_memory_type => 'mmap',
		lc_messages => "'C'",
		%conf);
	$node->append_conf('postgresql.conf',
		join("\n", map { "$_ = $settings{$_}" } sort keys %settings));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_background');
	# the server-wide job registry is a pinned DSM segment made at its first use: make it
	# now, so that the tests' DSM counts measure jobs only
	$node->safe_psql('postgres', 'SELECT count(*) FROM pg_background_jobs_v2()');
	return $node;
}

# A long-lived psql session (optionally as another login role).  Errors do not end it;
# VERBOSITY verbose prefixes every error with its SQLSTATE.
sub open_session
{
	my ($node, %opt) = @_;
	my @extra = ('-v', 'VERBOSITY=verbose');
	push @extra, ('-U', $opt{user}) if $opt{user};
	my $s = $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => \@extra);
	# the timeout covers each statement, not the whole session
	$s->set_query_timer_restart;
	return $s;
}

# Runs one statement in a session: (stdout, stderr) in list context, stdout otherwise.
sub sql
{
	my ($s, $query) = @_;
	$s->{stderr} = '';
	my $out = $s->query($query);
	my $err = $s->{stderr};
	$err =~ s/^\s+|\s+$//g;
	$s->{stderr} = '';
	return wantarray ? ($out, $err) : $out;
}

# Runs a statement that must succeed; returns its output.
sub sql_ok
{
	my ($s, $query, $name) = @_;
	my ($out, $err) = sql($s, $query);
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($err, '', $name) if defined $name;
	diag("unexpected error from <$query>: $err") if !defined $name && $err =~ /ERROR/;
	return $out;
}

# The SQLSTATE of the first ERROR in stderr (VERBOSITY verbose), or '' when none.
sub error_sqlstate
{
	my ($err) = @_;
	return $1 if $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return '';
}

# Runs a statement that must fail with one of the given SQLSTATEs (a string or an
# array ref).  Returns stderr.
sub sql_err
{
	my ($s, $query, $states, $name) = @_;
	my ($out, $err) = sql($s, $query);
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	sqlstate_is($err, $states, $name);
	return $err;
}

sub sqlstate_is
{
	my ($err, $states, $name) = @_;
	my @want = ref $states ? @$states : ($states);
	my $got = error_sqlstate($err);
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok((grep { $_ eq $got } @want), $name)
	  or diag("expected SQLSTATE " . join('/', @want) . ", got '$got': $err");
}

# Launches a v2 job from a session; returns (pid, cookie).
sub launch
{
	my ($s, $job, %opt) = @_;
	my $fn = $opt{submit} ? 'pg_background_submit_v2' : 'pg_background_launch_v2';
	my $q = defined $opt{queue} ? ", $opt{queue}" : '';
	my ($out, $err) = sql($s, "SELECT pid, cookie FROM $fn(\$pgbgjob\$$job\$pgbgjob\$$q)");
	die "launch failed: $err" if $err =~ /ERROR/;
	my ($pid, $cookie) = split /\|/, $out;
	die "launch returned no handle: '$out' / $err" unless $pid && defined $cookie;
	return ($pid, $cookie);
}

# Drains a job with fetch_v2 until its 'done' message; returns the messages as
# "kind|stmt|data" lines.  Each call waits at most a second for the first message, so a
# job that never ends fails through max_calls instead of hanging.
sub drain
{
	my ($s, $pid, $cookie, %opt) = @_;
	my $batch = $opt{batch} // 10000;
	my $wait = $opt{wait_ms} // 1000;
	my @all;
	for (1 .. ($opt{max_calls} // 300))
	{
		my ($out, $err) = sql($s,
			"SELECT kind, stmt, data FROM pg_background_fetch_v2($pid, $cookie, $batch, $wait)");
		die "fetch_v2($pid, $cookie) failed: $err" if $err =~ /ERROR/;
		push @all, grep { length } split /\n/, $out;
		return @all if @all && $all[-1] =~ /^done\|/;
	}
	die "fetch_v2($pid, $cookie) never reported done";
}

# The data of the drained messages of one kind, in order.
sub kinds
{
	my ($kind, @msgs) = @_;
	return map { (split /\|/, $_, 3)[2] } grep { /^\Q$kind\E\|/ } @msgs;
}

# PIDs of the cluster's pg_background workers (optionally of one launcher only).
sub worker_pids
{
	my ($node, $launcher) = @_;
	my $filter = defined $launcher
	  ? " AND application_name = 'pg_background:$launcher'" : '';
	my $out = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_background'$filter ORDER BY pid");
	return grep { /\d/ } split /\n/, $out;
}

sub worker_count
{
	my ($node) = @_;
	return scalar(worker_pids($node));
}

# One long-lived superuser session per node for polling (cheaper than a psql process
# per attempt, which matters on machines where fork is slow).
my %monitors;

sub close_monitors
{
	$_->quit for values %monitors;
	%monitors = ();
}

# Polls a query until it returns true.  The deadline (PG_TEST_TIMEOUT_DEFAULT) only
# guards against hanging; it is never what a test asserts.
sub wait_until
{
	my ($node, $query) = @_;
	my $m = $monitors{ $node->name } //= open_session($node);
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	my $out = '';
	my $err = '';
	while (time < $deadline)
	{
		($out, $err) = sql($m, $query);
		return 1 if $out eq 't';
		select(undef, undef, undef, 0.05);
	}
	diag("gave up waiting for <$query>: last output '$out' $err");
	return 0;
}

# Waits (bounded by the harness timeout) until no pg_background worker is left.
sub wait_no_workers
{
	my ($node, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok( wait_until($node,
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_background'"),
		$name // 'no pg_background worker left');
}

# Number of dynamic shared memory segments of the cluster (mmap implementation: one file
# each in pg_dynshmem/).
sub dsm_count
{
	my ($node) = @_;
	my $dir = $node->data_dir . '/pg_dynshmem';
	opendir(my $dh, $dir) or return 0;
	my @f = grep { !/^\./ } readdir $dh;
	closedir $dh;
	return scalar @f;
}

1;
