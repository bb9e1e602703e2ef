"""One module (or small package) per seed-004 tag: the leaf handlers. Each imports the kernel
and the domain, never another handler module; simulator/app.py lists them all."""
