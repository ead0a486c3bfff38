# pyinfra's side of the runner benchmark: the same 3 commands on every host of the inventory.
from pyinfra.operations import server

server.shell(name="three", commands=["uname -r", "test -d /tmp", "echo done"])
