"""Spanish for every English template of the checks (tests/unit/test_doctor.py checks that
none is missing and that every placeholder survives)."""

from __future__ import annotations

ES = {
    "ok": "ok",
    "warn": "aviso",
    "problem": "problema",
    "python": "python",
    "venv": "venv",
    "docker": "docker",
    "compose": "compose",
    "ports": "puertos",
    "disk": "disco",
    "memory": "memoria",
    "systemd": "systemd",
    "platform": "plataforma",
    "make doctor for {paths}: {system}": "make doctor para {paths}: {system}",
    "{problems} problem(s), {warnings} warning(s) in {seconds:.1f} s": (
        "{problems} problema(s), {warnings} aviso(s) en {seconds:.1f} s"
    ),
    "ready for {paths} ({seconds:.1f} s; details: make doctor FOR={first})": (
        "listo para {paths} ({seconds:.1f} s; detalles: make doctor FOR={first})"
    ),
    "fix": "arreglo",
    # python and venv
    "Python {version} ({path}) with venv and ensurepip": (
        "Python {version} ({path}) con venv y ensurepip"
    ),
    "no Python 3 found (python3.11, python3)": "no se encontró Python 3 (python3.11, python3)",
    "Python {version} ({path}): {path_kind} needs Python 3.11": (
        "Python {version} ({path}): {path_kind} necesita Python 3.11"
    ),
    "Python {version} ({path}) has no working venv/ensurepip": (
        "Python {version} ({path}) no tiene venv/ensurepip funcionando"
    ),
    "{path} does not run: {error}": "{path} no arranca: {error}",
    "install Python 3.11: sudo apt-get install python3.11 python3.11-venv (macOS: brew install "
    "python@3.11; Windows: inside WSL)": (
        "instala Python 3.11: sudo apt-get install python3.11 python3.11-venv (macOS: brew install "
        "python@3.11; Windows: dentro de WSL)"
    ),
    "sudo apt-get install python3.11-venv": "sudo apt-get install python3.11-venv",
    "not created yet: make run creates it (about 1.3 GB)": (
        "aún no existe: make run la crea (unos 1,3 GB)"
    ),
    ".venv: Python {version}, packages installed": ".venv: Python {version}, paquetes instalados",
    ".venv: Python {version}; make run installs the packages": (
        ".venv: Python {version}; make run instala los paquetes"
    ),
    ".venv uses Python {version}, not 3.11": ".venv usa Python {version}, no 3.11",
    "rm -rf .venv, then make run (it creates it again with Python 3.11)": (
        "rm -rf .venv y luego make run (la vuelve a crear con Python 3.11)"
    ),
    # docker and compose
    "Docker engine {version} reachable ({os})": "motor Docker {version} accesible ({os})",
    "docker is not installed": "docker no está instalado",
    "install Docker Engine with the Compose plugin (Linux: https://docs.docker.com/engine/install/;"
    " macOS and Windows: Docker Desktop)": (
        "instala Docker Engine con el plugin Compose (Linux: "
        "https://docs.docker.com/engine/install/; macOS y Windows: Docker Desktop)"
    ),
    "permission denied on the Docker socket: {detail}": (
        "permiso denegado en el socket de Docker: {detail}"
    ),
    "sudo usermod -aG docker $USER, then log out and back in (or run: newgrp docker)": (
        "sudo usermod -aG docker $USER, luego cierra la sesión y vuelve a entrar (o ejecuta: "
        "newgrp docker)"
    ),
    "the Docker engine does not answer: {detail}": "el motor Docker no responde: {detail}",
    "sudo systemctl start docker": "sudo systemctl start docker",
    "start Docker Desktop and wait until it says it is running": (
        "abre Docker Desktop y espera a que diga que está en marcha"
    ),
    "start Docker Desktop on Windows and turn on Settings > Resources > WSL integration for this "
    "distribution (or: sudo service docker start, with Docker installed inside WSL)": (
        "abre Docker Desktop en Windows y activa Settings > Resources > WSL integration para esta "
        "distribución (o: sudo service docker start, con Docker instalado dentro de WSL)"
    ),
    "{command} did not answer within {seconds:.0f} s": "{command} no respondió en {seconds:.0f} s",
    "restart the Docker engine (sudo systemctl restart docker, or restart Docker Desktop)": (
        "reinicia el motor Docker (sudo systemctl restart docker, o reinicia Docker Desktop)"
    ),
    "Compose {version}": "Compose {version}",
    "Compose {version}: docker-compose.yaml uses include:, which needs Compose 2.20.3 or later": (
        "Compose {version}: docker-compose.yaml usa include:, que necesita Compose 2.20.3 o "
        "posterior"
    ),
    "update Docker's Compose plugin: sudo apt-get install docker-compose-plugin (or update Docker "
    "Desktop)": (
        "actualiza el plugin Compose de Docker: sudo apt-get install docker-compose-plugin (o "
        "actualiza Docker Desktop)"
    ),
    "Compose v2 is not installed ({command} version: {detail})": (
        "Compose v2 no está instalado ({command} version: {detail})"
    ),
    "sudo apt-get install docker-compose-plugin (Docker Desktop includes it); docker-compose 1.x "
    "cannot read these files": (
        "sudo apt-get install docker-compose-plugin (Docker Desktop lo incluye); docker-compose "
        "1.x no puede leer estos archivos"
    ),
    "not checked: {what} is missing (see above)": "sin comprobar: falta {what} (ver arriba)",
    # ports
    "{ports} free (make run)": "{ports} libres (make run)",
    "{ports} free (make up)": "{ports} libres (make up)",
    "{port} free (mlflow_serv.service)": "{port} libre (mlflow_serv.service)",
    "{ports} already published by this project's running stack (make up updates it)": (
        "{ports} ya publicados por el stack de este proyecto en marcha (make up lo actualiza)"
    ),
    "port {port} ({what}) is in use by {holder}": "el puerto {port} ({what}) está en uso por {holder}",
    "a process this user cannot see (sudo ss -ltnp 'sport = :{port}' names it)": (
        "un proceso que este usuario no ve (sudo ss -ltnp 'sport = :{port}' lo nombra)"
    ),
    "{name} (pid {pid})": "{name} (pid {pid})",
    "{holder}: a Docker container publishes it (docker ps)": (
        "{holder}: lo publica un contenedor Docker (docker ps)"
    ),
    'stop it, or move make run\'s {what}: make run RUN_ARGS="{flag} {free}"': (
        'detenlo, o mueve el {what} de make run: make run RUN_ARGS="{flag} {free}"'
    ),
    "stop it, or leave JupyterLab off: make run JUPYTER=0": (
        "detenlo, o deja JupyterLab apagado: make run JUPYTER=0"
    ),
    "stop it, or set {var} in .env to a free port, e.g. {var}={free}": (
        "detenlo, o pon {var} en .env con un puerto libre, p. ej. {var}={free}"
    ),
    "stop it, or set MLFLOW_PORT in the unit's .env (and the clients' MLFLOW_TRACKING_URI)": (
        "detenlo, o pon MLFLOW_PORT en el .env de la unidad (y MLFLOW_TRACKING_URI en los clientes)"
    ),
    "cannot read the compose files' ports: {detail}": (
        "no se pueden leer los puertos de los archivos compose: {detail}"
    ),
    "fix the error above in .env or the compose files (docker compose config shows it)": (
        "corrige el error de arriba en .env o en los archivos compose (docker compose config lo "
        "muestra)"
    ),
    # disk and memory
    "{free} free at {where}; {path_kind} needs about {need} ({why})": (
        "{free} libres en {where}; {path_kind} necesita unos {need} ({why})"
    ),
    ".venv and pip's downloads": ".venv y las descargas de pip",
    "the run's data": "los datos de la ejecución",
    "the images, ~3.4 GB": "las imágenes, ~3,4 GB",
    "free space there: docker system prune removes unused images and build cache": (
        "libera espacio: docker system prune borra imágenes sin uso y la caché de builds"
    ),
    "free space on that disk, or clone the repository onto a disk with more room": (
        "libera espacio en ese disco, o clona el repositorio en un disco con más sitio"
    ),
    "Docker's data root {where} is not visible here (Docker Desktop keeps it in its VM)": (
        "la raíz de datos de Docker {where} no se ve desde aquí (Docker Desktop la guarda en su VM)"
    ),
    "{free} available; {path_kind} uses about {need} at its peak": (
        "{free} disponibles; {path_kind} usa unos {need} en su pico"
    ),
    "the Docker engine has {total} in all; the stack uses about {need}": (
        "el motor Docker tiene {total} en total; el stack usa unos {need}"
    ),
    "close other programs (browser tabs, IDEs), or add memory": (
        "cierra otros programas (pestañas del navegador, IDEs), o añade memoria"
    ),
    "give Docker more memory: Docker Desktop > Settings > Resources (WSL: memory= in "
    "%UserProfile%\\.wslconfig)": (
        "dale más memoria a Docker: Docker Desktop > Settings > Resources (WSL: memory= en "
        "%UserProfile%\\.wslconfig)"
    ),
    "cannot tell how much memory is free here": "no se puede saber cuánta memoria hay libre aquí",
    # systemd
    "systemd {version} is PID 1: the unit path (mlflow_serv.service) works here": (
        "systemd {version} es el PID 1: la ruta de la unidad (mlflow_serv.service) funciona aquí"
    ),
    "not available here: the unit path needs systemd ({reason})": (
        "no disponible aquí: la ruta de la unidad necesita systemd ({reason})"
    ),
    "PID 1 is {comm}, not systemd": "el PID 1 es {comm}, no systemd",
    "no systemctl": "no hay systemctl",
    "macOS has launchd": "macOS usa launchd",
    "run MLflow as a container instead: docker compose -f docker-compose-mlflow.yaml up -d "
    "--build (or make run)": (
        "ejecuta MLflow como contenedor: docker compose -f docker-compose-mlflow.yaml up -d --build "
        "(o make run)"
    ),
    "WSL: add [boot] systemd=true to /etc/wsl.conf, run wsl.exe --shutdown in Windows, reopen "
    "the distribution": (
        "WSL: añade [boot] systemd=true a /etc/wsl.conf, ejecuta wsl.exe --shutdown en Windows y "
        "vuelve a abrir la distribución"
    ),
    # platform
    "{system} {release} ({machine})": "{system} {release} ({machine})",
    "WSL 1: Docker and systemd need WSL 2": "WSL 1: Docker y systemd necesitan WSL 2",
    "in PowerShell: wsl --set-version <distribution> 2": (
        "en PowerShell: wsl --set-version <distribución> 2"
    ),
    "WSL 2: Windows reaches these servers at http://localhost:PORT only while localhostForwarding"
    " is on (the default); from other machines they need a port proxy (docs/troubleshooting.md)": (
        "WSL 2: Windows llega a estos servidores en http://localhost:PUERTO solo mientras "
        "localhostForwarding esté activo (por defecto); desde otras máquinas hace falta un proxy "
        "de puertos (docs/es/problemas.md)"
    ),
    "the checkout is on a Windows drive ({where}): slow files, odd permissions": (
        "el repositorio está en una unidad de Windows ({where}): archivos lentos, permisos raros"
    ),
    "clone it inside WSL instead, e.g. under ~/": "clónalo dentro de WSL, p. ej. en ~/",
    "macOS: AirPlay Receiver listens on port 5000": "macOS: el Receptor AirPlay escucha en el puerto 5000",
    "System Settings > General > AirDrop & Handoff > AirPlay Receiver off, or make run "
    'RUN_ARGS="--mlflow-port 5001"': (
        "Ajustes del Sistema > General > AirDrop y Handoff > Receptor AirPlay apagado, o make run "
        'RUN_ARGS="--mlflow-port 5001"'
    ),
    "macOS: Linux's parent-death signal is missing; make run's watchdog still stops its servers": (
        "macOS: falta la señal de muerte del padre de Linux; el watchdog de make run igual detiene "
        "sus servidores"
    ),
    "{system}: run the workshop inside WSL 2 (Ubuntu), not in Windows itself": (
        "{system}: ejecuta el taller dentro de WSL 2 (Ubuntu), no en Windows directamente"
    ),
    "wsl --install, then clone the repository inside WSL": (
        "wsl --install y luego clona el repositorio dentro de WSL"
    ),
    "make run": "make run",
    "make up": "make up",
    "the unit path": "la ruta de la unidad",
}
