"""ASR backends behind one small protocol, and model resolution."""
