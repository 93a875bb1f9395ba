# contrib/kubernetes: every manifest parses (python3-yaml: no cluster is
# reachable here, so this is a structural check, not a kubectl dry run) and
# carries what the CronJob needs: Forbid, cycle --all --due, state_dir on
# the PersistentVolumeClaim, the config from the ConfigMap, the admin's
# pgpass from a Secret with defaultMode 0600, a non-root securityContext,
# the kubernetes-secret hook as a command sink with a Role limited to the
# named Secret (get, patch, update); the Containerfile installs the .deb on
# debian:12-slim and runs as the same non-root uid. The ConfigMap's
# pgrotate.conf is loaded by pgrotate itself (check). No server.
use strict;
use warnings;
use Test::More;
use IPC::Run qw(run timeout);
use JSON::PP;
use File::Temp qw(tempdir);

my $src = $ENV{PGROTATE_SRCDIR} or BAIL_OUT('PGROTATE_SRCDIR is not set');
my $bin = $ENV{PGROTATE_BIN} or BAIL_OUT('PGROTATE_BIN is not set');
my $dir = "$src/contrib/kubernetes";
my $tmp = tempdir('132_kubernetes_XXXXXX', TMPDIR => 1, CLEANUP => 1);

# python3 turns every *.yaml into JSON: { file: [ documents ] }.
my $py = <<'PY';
import glob, json, os, sys, yaml
out = {}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.yaml"))):
    with open(f) as fh:
        out[os.path.basename(f)] = [d for d in yaml.safe_load_all(fh) if d is not None]
json.dump(out, sys.stdout)
PY
my ($out, $err) = ('', '');
my $ok = run [ 'python3', '-c', $py, $dir ], '>', \$out, '2>', \$err, timeout(60);
if (!$ok && $err =~ /No module named .?yaml/)
{
	plan skip_all => 'python3-yaml is not installed (.ci/install-deps installs it)';
}
ok($ok, 'every manifest in contrib/kubernetes parses as YAML') or diag($err);
my $files = $ok ? decode_json($out) : {};

my %kind;    # kind => [ [file, doc] ... ]
for my $f (sort keys %$files)
{
	for my $d (@{ $files->{$f} })
	{
		ok(ref $d eq 'HASH' && $d->{apiVersion} && $d->{kind}
			  && ($d->{metadata} || $d->{kind} eq 'Kustomization'),
			"$f: a $d->{kind} with apiVersion, kind and metadata");
		push @{ $kind{ $d->{kind} } }, [ $f, $d ];
	}
}
for my $k (qw(CronJob ConfigMap PersistentVolumeClaim ServiceAccount Role RoleBinding Secret Kustomization))
{
	is(scalar @{ $kind{$k} || [] }, 1, "one $k");
}
my ($cj) = map { $_->[1] } @{ $kind{CronJob} || [] };
my ($cm) = map { $_->[1] } @{ $kind{ConfigMap} || [] };
my ($pvc) = map { $_->[1] } @{ $kind{PersistentVolumeClaim} || [] };
my ($role) = map { $_->[1] } @{ $kind{Role} || [] };
my ($rb) = map { $_->[1] } @{ $kind{RoleBinding} || [] };
my ($sa) = map { $_->[1] } @{ $kind{ServiceAccount} || [] };
my ($appsec) = map { $_->[1] } @{ $kind{Secret} || [] };
my ($kust) = map { $_->[1] } @{ $kind{Kustomization} || [] };
BAIL_OUT('missing manifests') unless $cj && $cm && $pvc && $role && $rb && $sa && $appsec && $kust;

is_deeply([ sort @{ $kust->{resources} } ],
	[ sort grep { $_ ne 'kustomization.yaml' } keys %$files ],
	'kustomization.yaml lists every other manifest');

# ---- the CronJob ----
is($cj->{apiVersion}, 'batch/v1', 'CronJob is batch/v1');
is($cj->{spec}{concurrencyPolicy}, 'Forbid', 'concurrencyPolicy: Forbid');
like($cj->{spec}{schedule}, qr/^\S+ \S+ \S+ \S+ \S+$/, 'a five-field schedule');
my $pod = $cj->{spec}{jobTemplate}{spec}{template}{spec};
is($pod->{restartPolicy}, 'Never', 'restartPolicy: Never (the next run resumes)');
is($pod->{serviceAccountName}, $sa->{metadata}{name}, 'the pod runs as the ServiceAccount');
my $psc = $pod->{securityContext};
ok($psc->{runAsNonRoot} && $psc->{runAsUser} && $psc->{runAsUser} > 0, 'pod: runAsNonRoot, a non-zero runAsUser');
ok($psc->{fsGroup}, 'pod: fsGroup (the volume is writable by the user)');
is(scalar @{ $pod->{containers} }, 1, 'one container');
my $c = $pod->{containers}[0];
my $cmdline = join(' ', @{ $c->{command} || [] }, @{ $c->{args} || [] });
like($cmdline, qr{(?:^|\s)(?:exec\s+)?/usr/bin/pgrotate cycle --all --due\s*$}, 'the container runs pgrotate cycle --all --due');
my $csc = $c->{securityContext};
is($csc->{allowPrivilegeEscalation}, JSON::PP::false, 'container: allowPrivilegeEscalation false');
ok($csc->{readOnlyRootFilesystem}, 'container: readOnlyRootFilesystem');
is_deeply($csc->{capabilities}{drop}, ['ALL'], 'container: all capabilities dropped');
my %env = map { $_->{name} => $_->{value} } @{ $c->{env} || [] };
my %mount = map { $_->{name} => $_ } @{ $c->{volumeMounts} || [] };
my %vol = map { $_->{name} => $_ } @{ $pod->{volumes} || [] };
for my $name (keys %mount)
{
	ok($vol{$name}, "volumeMount $name has a volume");
}

# config: the ConfigMap at /etc/pgrotate, read-only, as PGROTATE_CONFIG
my ($cfgvol) = grep { $_->{configMap} } values %vol;
ok($cfgvol, 'a ConfigMap volume');
is($cfgvol->{configMap}{name}, $cm->{metadata}{name}, 'it is the shipped ConfigMap');
ok(!($cfgvol->{configMap}{defaultMode} & 0002), 'the config is not writable by others');
my $cfgmount = $mount{ $cfgvol->{name} };
ok($cfgmount->{readOnly}, 'the config is mounted read-only');
my ($cfgkey) = keys %{ $cm->{data} };
is($cfgmount->{subPath}, $cfgkey, 'the ConfigMap key is mounted by subPath: a plain file, not the volume\'s symbolic links, which pgrotate refuses');
is($env{PGROTATE_CONFIG}, $cfgmount->{mountPath}, 'PGROTATE_CONFIG is the mounted ConfigMap key');

# the admin's pgpass: a Secret volume with mode 0600
my ($secvol) = grep { $_->{secret} } values %vol;
ok($secvol, 'a Secret volume for the admin pgpass');
is($secvol->{secret}{defaultMode}, 0600, 'its defaultMode is 0600');
ok($mount{ $secvol->{name} }{readOnly}, 'it is mounted read-only');
my $secpath = $mount{ $secvol->{name} }{mountPath};
like($cmdline, qr{install -m 0600 \Q$secpath\E/\S+ "\$PGPASSFILE"}, 'the pgpass is copied 0600 to PGPASSFILE (fsGroup makes the Secret file group-readable)');
my ($runvol) = grep { $_->{emptyDir} } values %vol;
ok($runvol && ($runvol->{emptyDir}{medium} // '') eq 'Memory', 'PGPASSFILE is on a memory emptyDir');
like($env{PGPASSFILE} // '', qr{^\Q$mount{$runvol->{name}}{mountPath}\E/}, 'PGPASSFILE is under that emptyDir');

# state_dir on the PVC
my ($pvcvol) = grep { $_->{persistentVolumeClaim} } values %vol;
ok($pvcvol, 'a PersistentVolumeClaim volume');
is($pvcvol->{persistentVolumeClaim}{claimName}, $pvc->{metadata}{name}, 'it is the shipped claim');
ok(!$mount{ $pvcvol->{name} }{readOnly}, 'the state volume is writable');
my $conf = $cm->{data}{$cfgkey};
my ($state_dir) = $conf =~ /^\s*state_dir\s*=\s*"([^"]+)"/m;
my $statemount = $mount{ $pvcvol->{name} }{mountPath};
like($state_dir // '', qr{^\Q$statemount\E/}, "state_dir ($state_dir) is inside the PVC mount (a subfolder: the volume root is group-writable)");
like(slurp("$dir/pvc.yaml") . slurp("$dir/cronjob.yaml"), qr/pending password/, 'a comment says why the state is persistent');

# ---- the hook and its RBAC ----
my ($hook, $ns, $secret) = $conf =~ m{argv = \[ "(/usr/share/pgrotate/hooks/kubernetes-secret)",\s*"([^"]+)", "([^"]+)" \]};
ok($hook, 'the config has the kubernetes-secret hook (installed path) as a command sink');
ok(-x "$src/contrib/hooks/kubernetes-secret", 'the hook exists in contrib/hooks');
is($role->{metadata}{namespace}, $ns, "the Role is in the hook's namespace ($ns)");
is(scalar @{ $role->{rules} }, 1, 'the Role has one rule');
my $rule = $role->{rules}[0];
is_deeply($rule->{resources}, ['secrets'], 'on secrets');
is_deeply($rule->{resourceNames}, [$secret], "named: only $secret");
is_deeply([ sort @{ $rule->{verbs} } ], [qw(get patch update)], 'verbs get, patch, update only');
is($rb->{roleRef}{name}, $role->{metadata}{name}, 'the RoleBinding binds the Role');
is_deeply($rb->{subjects}, [ { kind => 'ServiceAccount', name => $sa->{metadata}{name},
	namespace => $sa->{metadata}{namespace} } ], 'to the ServiceAccount');
is($cj->{metadata}{namespace}, $sa->{metadata}{namespace}, 'the CronJob is in the ServiceAccount\'s namespace');
is("$appsec->{metadata}{namespace}/$appsec->{metadata}{name}", "$ns/$secret", 'the Secret the hook updates is shipped (the Role may not create it)');

# ---- pgrotate loads the ConfigMap's configuration ----
my $cf = "$tmp/pgrotate.conf";
open my $fh, '>', $cf or die "cannot write $cf: $!";
print $fh $conf;
close $fh;
chmod 0440, $cf;
# (check stops at the connection: no cluster, no database here)
my ($pout, $perr) = ('', '');
run [ $bin, '-c', $cf, 'check', 'appdb' ], '<', \undef, '>', \$pout, '2>', \$perr, timeout(60);
like($pout, qr/^  ok    config valid$/m, 'pgrotate check accepts the ConfigMap\'s pgrotate.conf (config valid)')
  or diag("$pout$perr");
like($pout, qr/^  FAIL  admin connects/m, 'and goes on to connect (nothing to reach here)');

# ---- the Containerfile ----
my $cfile = slurp("$dir/Containerfile");
like($cfile, qr/^FROM debian:12-slim$/m, 'Containerfile: FROM debian:12-slim');
like($cfile, qr/apt-get install [^\n]*pgrotate_\*\.deb/, 'Containerfile: installs the .deb with apt-get');
like($cfile, qr/sha256sum --check/, 'Containerfile: checks the downloaded kubectl');
my ($uid, $gid) = $cfile =~ /^USER (\d+):(\d+)$/m;
ok($uid && $uid > 0, 'Containerfile: USER is a numeric non-root uid');
is($uid, $psc->{runAsUser}, 'the CronJob runs as the image\'s uid');
is($gid, $psc->{runAsGroup}, 'and its gid');
like($cfile, qr/useradd --uid $uid\b/, 'the image creates that user before the package (postinst keeps it)');

done_testing();

sub slurp
{
	my ($f) = @_;
	open my $h, '<', $f or die "cannot open $f: $!";
	local $/;
	my $t = <$h>;
	return $t // '';
}
