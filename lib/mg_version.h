#ifndef MG_VERSION_H
#define MG_VERSION_H

/* The modelgate release every program and record names ("--version",
 * provenance, User-Agent, report footers). One place to bump it. */
#define MG_VERSION "0.1.0"

#endif
