/*
 * vmon-ctl: the management API's command-line client, a binary of its own so that vmon
 * itself does not load libcurl (and its TLS, Kerberos and LDAP libraries). `vmon ctl ...`
 * execs it.
 */
#include "api/ctl.h"

int main(int argc, char **argv)
{
	return ctl_main(argc, argv);
}
