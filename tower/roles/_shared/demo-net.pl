#!/usr/bin/perl
# demo-net.pl — the demo roles' small TCP service and its client. Needs only
# perl-base (Essential: on every Debian system) and coreutils' sha256sum.
# Kept once here in _shared; demo-post, demo-cluster and demo-check include it.
#
#   demo-net.pl serve IP PORT DIR   binds IP:PORT, then a daemon (own session,
#                                   stdio on DIR/log, cwd /) answers one
#                                   request line per connection; the secret
#                                   is read from DIR/secret, the daemon's pid
#                                   written to DIR/pid before this returns
#   demo-net.pl ask IP PORT [BIND]  sends the first line of stdin, prints the
#                                   reply; from BIND's address when it is one
#                                   of this host's; 10 s at most
#
# Requests and replies:
#   prove CHALLENGE       proof SHA256(secret ":" CHALLENGE)
#   join ADDR MAC         ok | denied       MAC = SHA256(secret ":join:" ADDR);
#                                           records ADDR and the peer seen
#   members               member ADDR PEER ... then end
use strict;
use warnings;
use IO::Socket::INET;
use IPC::Open2;
use POSIX ();

sub fail { print STDERR "demo-net: @_\n"; exit 1; }

sub sha256_hex {
	my ($data) = @_;
	my ($out, $in);
	my $pid = open2($out, $in, 'sha256sum') or fail("cannot run sha256sum");
	print $in $data;
	close $in;
	my $line = <$out> // '';
	close $out;
	waitpid($pid, 0);
	$line =~ /^([0-9a-f]{64})\b/ or fail("sha256sum printed no hash");
	return $1;
}

sub same {
	my ($a, $b) = @_;
	return 0 if length($a) != length($b);
	my $d = 0;
	$d |= ord(substr($a, $_, 1)) ^ ord(substr($b, $_, 1)) for 0 .. length($a) - 1;
	return $d == 0;
}

sub read_members {
	my ($dir) = @_;
	my %m;
	if (open(my $f, '<', "$dir/members")) {
		while (<$f>) {
			$m{$1} = $2 if /^(\S+) (\S+)$/;
		}
		close $f;
	}
	return %m;
}

sub write_members {
	my ($dir, %m) = @_;
	open(my $f, '>', "$dir/members.tmp") or return 0;
	print $f "$_ $m{$_}\n" for sort keys %m;
	close $f or return 0;
	return rename("$dir/members.tmp", "$dir/members");
}

sub answer {
	my ($req, $secret, $dir, $peer) = @_;
	if ($req =~ /^prove ([0-9a-f]{16,128})$/) {
		return "proof " . sha256_hex("$secret:$1") . "\n";
	}
	if ($req =~ /^join ([0-9A-Fa-f.:]{2,45}) ([0-9a-f]{64})$/) {
		my ($addr, $mac) = ($1, $2);
		return "denied\n" unless same($mac, sha256_hex("$secret:join:$addr"));
		my %m = read_members($dir);
		$m{$addr} = $peer;
		return write_members($dir, %m) ? "ok\n" : "error cannot record\n";
	}
	if ($req eq 'members') {
		my %m = read_members($dir);
		return join('', map { "member $_ $m{$_}\n" } sort keys %m) . "end\n";
	}
	return "error unknown request\n";
}

sub serve {
	my ($ip, $port, $dir) = @_;
	open(my $sf, '<', "$dir/secret") or fail("cannot read $dir/secret: $!");
	my $secret = <$sf> // '';
	close $sf;
	chomp $secret;
	$secret =~ /^[0-9a-f]{32,128}$/ or fail("$dir/secret is not a hex secret");
	my $srv = IO::Socket::INET->new(LocalAddr => $ip, LocalPort => $port, Proto => 'tcp',
					Listen => 16, ReuseAddr => 1)
	    or fail("cannot listen on $ip:$port: $@");
	my $pid = fork();
	fail("fork: $!") unless defined $pid;
	if ($pid) {
		open(my $pf, '>', "$dir/pid.tmp") or fail("cannot write $dir/pid.tmp: $!");
		print $pf "$pid\n";
		close $pf or fail("cannot write $dir/pid.tmp: $!");
		rename("$dir/pid.tmp", "$dir/pid") or fail("cannot rename $dir/pid.tmp: $!");
		exit 0;
	}
	POSIX::setsid();
	chdir('/');
	open(STDIN, '<', '/dev/null');
	open(STDOUT, '>>', "$dir/log");
	open(STDERR, '>&', \*STDOUT);
	$| = 1;
	$SIG{PIPE} = 'IGNORE';
	print "serving on $ip:$port\n";
	while (1) {
		my $c = $srv->accept() or next;
		my $peer = $c->peerhost() // '?';
		eval {
			local $SIG{ALRM} = sub { die "timeout\n" };
			alarm 5;
			my $req = <$c>;
			if (defined $req) {
				$req =~ s/\r?\n\z//;
				my $reply = answer($req, $secret, $dir, $peer);
				print $c $reply;
				my ($word) = split(/ /, $req);
				printf "%s %s -> %s", $peer, $word // '', (split(/\n/, $reply))[0] . "\n";
			}
			alarm 0;
		};
		alarm 0;
		close $c;
	}
}

sub ask {
	my ($ip, $port, $bind) = @_;
	my $req = <STDIN> // fail("no request on stdin");
	my %opt = (PeerAddr => $ip, PeerPort => $port, Proto => 'tcp', Timeout => 5);
	my $c;
	$c = IO::Socket::INET->new(%opt, LocalAddr => $bind) if defined $bind && $bind ne '';
	$c //= IO::Socket::INET->new(%opt) or fail("cannot connect to $ip:$port: $@");
	local $SIG{ALRM} = sub { fail("no reply from $ip:$port within 10 s") };
	alarm 10;
	print $c $req;
	$c->shutdown(1);
	print while <$c>;
	alarm 0;
	close $c;
	exit 0;
}

my $cmd = shift @ARGV // '';
if ($cmd eq 'serve' && @ARGV == 3) {
	serve(@ARGV);
} elsif ($cmd eq 'ask' && (@ARGV == 2 || @ARGV == 3)) {
	ask(@ARGV);
}
fail("usage: demo-net.pl serve IP PORT DIR | ask IP PORT [BIND]");
