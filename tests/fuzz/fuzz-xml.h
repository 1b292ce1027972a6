#pragma once
/* What the targets that parse XML (fuzz-ova, fuzz-soap) do first, as mtvd's
 * main does: libxml2 initialised once and kept quiet (parse errors come back
 * through GError, not on stderr). */
void fuzz_xml_init (void);
