#!/usr/bin/perl
# mailspf.pl PORT: Perl's Mail::SPF (libmail-spf-perl) as a verifier for
# test_forms.py.  Reads "IP SENDER" lines on stdin, asks the resolver on
# 127.0.0.1:PORT, and prints one result code a line (pass, fail, softfail,
# neutral, none, permerror, temperror).
use strict;
use warnings;
use Mail::SPF;
use Net::DNS::Resolver;

my $port = shift or die "usage: mailspf.pl PORT\n";
my $res = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port,
                                  recurse => 1, udp_timeout => 5, tcp_timeout => 5,
                                  retry => 2);
# max_void_dns_lookups: RFC 7208 §4.6.4's 2 (Mail::SPF's default too).
my $server = Mail::SPF::Server->new(dns_resolver => $res, max_void_dns_lookups => 2);
$| = 1;
while (my $line = <STDIN>) {
    chomp $line;
    my ($ip, $sender) = split ' ', $line;
    my $req = Mail::SPF::Request->new(scope => 'mfrom', identity => $sender, ip_address => $ip);
    my $result = $server->process($req);
    print $result->code, "\n";
}
