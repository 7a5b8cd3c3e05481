# Clipped texts stay valid text: the SQL preview of list_v2 (120 bytes) and last_error
# (512 bytes) are cut at a character boundary and marked with "..." (reviews: proposed
# changes 5 and 6, whose byte-wise memcpy could split a multibyte character).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

# the source is UTF-8 bytes (no `use utf8`): psql receives them unchanged
my $node = new_node('clipping', initdb => [ '--encoding=UTF8', '--locale=C' ]);
my $s = open_session($node);
sql_ok($s, "SET client_encoding = 'UTF8'");

# 'ä' is two bytes in UTF-8; after the 10 bytes of "SELECT 'xy" the clip point (120
# bytes less room for "..." and the terminator) falls inside a character
my ($pid, $cookie) = launch($s, "SELECT 'xy" . ('ä' x 100) . "'");
sql_ok($s, "SELECT pg_background_wait_v2($pid, $cookie)");
my $row = sql_ok($s, list_sql(
		q{octet_length(sql_preview) <= 120, right(sql_preview, 3) = '...',
		  sql_preview = left($q$SELECT 'xy} . ('ä' x 100) . q{'$q$, char_length(sql_preview) - 3) || '...'},
		"pid = $pid"));
is($row, 't|t|t', 'the SQL preview is cut at a character boundary, within 120 bytes, marked with ...');

# an error message of one ASCII and 600 two-byte characters: the 512-byte clip point
# falls inside a character as well
($pid, $cookie) = launch($s, q{DO $$BEGIN RAISE EXCEPTION 'a%', repeat('ö', 600); END$$});
sql_ok($s, "SELECT pg_background_wait_v2($pid, $cookie)");
$row = sql_ok($s, list_sql(
		q{state, octet_length(last_error) <= 512, right(last_error, 3) = '...',
		  last_error = 'a' || repeat('ö', char_length(last_error) - 4) || '...'},
		"pid = $pid"));
is($row, 'error|t|t|t', 'last_error is cut at a character boundary, within 512 bytes, marked with ...');
my @msgs = drain($s, $pid, $cookie);
my ($err) = kinds('error', @msgs);
like($err, qr/"message"\s*:\s*"a(?:ö){600}"/, 'fetch_v2 still returns the whole message');

$s->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
