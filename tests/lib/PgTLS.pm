package PgTLS;

# Throwaway TLS for test clusters, made with the openssl command line: a CA
# and a server certificate for given names, and a cluster that serves them
# and refuses TCP without TLS (hostssl first, hostnossl reject).
#
#   my $ca = PgTLS::make_ca("$dir/ca");               # { dir, cert, key }
#   my $node = PgRotateTest::Cluster->new('tls', tcp => 1,
#       extra_hba => PgTLS::hba_lines());
#   PgTLS::serve($node, $ca, names => [ 'db.example' ]);
#   $node->start;

use strict;
use warnings;
use Carp;
use File::Path qw(make_path);
use PgRotateTest;

sub _openssl
{
	my (@args) = @_;
	my ($rc, $out, $err) = PgRotateTest::_run([ 'openssl', @args ], timeout => 60);
	croak "openssl @args failed (exit $rc): $err$out" if $rc != 0;
	return $out;
}

sub _ec_key_args { return ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'); }

# make_ca($dir, cn => 'pgrotate test CA'): a self-signed CA in $dir.
sub make_ca
{
	my ($dir, %o) = @_;
	make_path($dir);
	my $ca = { dir => $dir, cert => "$dir/ca.crt", key => "$dir/ca.key" };
	_openssl('req', '-x509', '-new', _ec_key_args(), '-keyout', $ca->{key}, '-out', $ca->{cert},
		'-days', '2', '-subj', '/CN=' . ($o{cn} // 'pgrotate test CA'),
		'-addext', 'basicConstraints=critical,CA:TRUE',
		'-addext', 'keyUsage=critical,keyCertSign,cRLSign');
	chmod 0644, $ca->{cert};
	return $ca;
}

# server_cert($ca, $dir, names => [...]): a server key and certificate
# signed by $ca for the DNS names (and 127.0.0.1); returns { cert, key }.
sub server_cert
{
	my ($ca, $dir, %o) = @_;
	my @names = @{ $o{names} || ['localhost'] };
	make_path($dir);
	my $ext = "$dir/server.ext";
	PgRotateTest::_write_file($ext, 'subjectAltName=' . join(',', (map { "DNS:$_" } @names), 'IP:127.0.0.1')
		  . "\nextendedKeyUsage=serverAuth\n", 0600);
	_openssl('req', '-new', _ec_key_args(), '-keyout', "$dir/server.key", '-out', "$dir/server.csr",
		'-subj', "/CN=$names[0]");
	_openssl('x509', '-req', '-in', "$dir/server.csr", '-CA', $ca->{cert}, '-CAkey', $ca->{key},
		'-CAcreateserial', '-out', "$dir/server.crt", '-days', '2', '-extfile', $ext);
	return { cert => "$dir/server.crt", key => "$dir/server.key" };
}

# hba lines (for extra_hba): TCP only with TLS, scram.
sub hba_lines
{
	return "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject";
}

# serve($node, $ca, names => [...]): before start, a server certificate in
# the node's data folder (owned by postgres, key 0600) and ssl = on.
sub serve
{
	my ($node, $ca, %o) = @_;
	my $c = server_cert($ca, $node->base_dir . '/tls', %o);
	my $data = $node->data_dir;
	for my $f ([ $c->{cert}, 'server.crt', 0644 ], [ $c->{key}, 'server.key', 0600 ])
	{
		PgRotateTest::_write_file("$data/$f->[1]", PgRotateTest::slurp_file($f->[0]), $f->[2]);
		PgRotateTest::_chown_postgres("$data/$f->[1]");
	}
	$node->append_conf("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'");
	return $c;
}

1;
