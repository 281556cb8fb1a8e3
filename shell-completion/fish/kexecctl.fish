# SPDX-License-Identifier: LGPL-2.1-or-later
# fish completion for kexecctl(1): verbs, each verb's options and the global
# ones (before or after the verb), the --json, --scheme, --signature-policy
# and --bus values, UKI profiles (read with `kexecctl --json inspect`),
# kernel versions for --if-kernel, and files (any file for --kernel and
# --initrd: a plain kernel is recognised by its headers, not its name).

set -l __kexecctl_verbs status stage unstage reboot soft-reboot inspect list

# The profiles of the UKI already on the command line, as "@N" and their IDs.
function __kexecctl_profiles
    set -l args (commandline -opc)
    set -l uki
    set -l skip 0
    set -l seen_verb 0
    for w in $args[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --addon --profile --scheme --cmdline-extra --cmdline-replace --signature-policy --trust-dir --config --bus --kernel --initrd --append --command-line
                set skip 1
            case '-*'
            case '*'
                if test $seen_verb = 0
                    set seen_verb 1
                else
                    set uki $w
                    break
                end
        end
    end
    test -n "$uki" -a -r "$uki"; or return
    set -l json (command kexecctl --json=short inspect -- $uki 2>/dev/null); or return
    set -l profiles (string match -r '"profiles":\[[^]]*\]' -- $json)
    string match -r -a -g '"index":([0-9]+)' -- $profiles | string replace -r '^' '@'
    string match -r -a -g '"id":"([^"]+)"' -- $profiles
end

complete -c kexecctl -f

# Verbs, while none is on the command line.
set -l no_verb "not __fish_seen_subcommand_from $__kexecctl_verbs"
complete -c kexecctl -n $no_verb -a status -d 'Show what is staged and what the kernel supports'
complete -c kexecctl -n $no_verb -a stage -d 'Stage a UKI (and addons) as the next kernel'
complete -c kexecctl -n $no_verb -a unstage -d 'Drop the staged kernel'
complete -c kexecctl -n $no_verb -a reboot -d 'Reboot through logind, into the staged kernel by default'
complete -c kexecctl -n $no_verb -a soft-reboot -d 'Restart userspace only'
complete -c kexecctl -n $no_verb -a inspect -d 'Analyse a UKI locally'
complete -c kexecctl -n $no_verb -a list -d 'List the boot entries'

# Global options, before or after the verb. --json takes its mode only after '='.
complete -c kexecctl -l json -d 'JSON output: pretty (also without =MODE), short or off'
complete -c kexecctl -n 'string match -q -- "--json=*" (commandline -ct)' -a '--json=pretty --json=short --json=off'
complete -c kexecctl -l no-pager -d 'Do not pipe status, list and inspect into a pager'
complete -c kexecctl -l no-legend -d 'Do not print table headers and footers'
complete -c kexecctl -s q -l quiet -d 'Print nothing when stage, unstage or reboot succeed'
complete -c kexecctl -l no-ask-password -d 'Do not ask for a password when authorization is needed'
complete -c kexecctl -l config -r -F -d 'kexecd.conf whose ESP=, XBOOTLDR=, EFIVARS= stage and list use'
complete -c kexecctl -l bus -x -a system -d 'system or a D-Bus address to talk to kexecd on'
complete -c kexecctl -s h -l help -d 'Print help and exit'
complete -c kexecctl -l version -d 'Print the version and exit'

# stage
set -l stage '__fish_seen_subcommand_from stage'
complete -c kexecctl -n "$stage; and not __fish_contains_opt kernel" -k -a '(__fish_complete_suffix .efi)'
complete -c kexecctl -n $stage -l addon -r -k -a '(__fish_complete_suffix .efi)' -d 'UKI addon; may be repeated'
complete -c kexecctl -n $stage -l no-addons -d 'Do not add the addons systemd-stub would load'
complete -c kexecctl -n $stage -l profile -x -a '(__kexecctl_profiles)' -d 'UKI profile: number (@N) or ID'
complete -c kexecctl -n $stage -l scheme -x -a 'auto bpf classic' -d 'How the kernel is handed over'
complete -c kexecctl -n "$stage; and not __fish_contains_opt cmdline-replace" -l cmdline-extra -x -d 'Appended to the command line'
complete -c kexecctl -n "$stage; and not __fish_contains_opt cmdline-extra" -l cmdline-replace -x -d "Replaces the UKI's .cmdline"
complete -c kexecctl -n $stage -l signature-policy -x -a 'auto enforce warn' -d 'Authenticode pre-check policy'
complete -c kexecctl -n $stage -l kernel -r -F -d 'Plain kernel image instead of a UKI'
complete -c kexecctl -n $stage -l initrd -r -F -d 'Initrd for --kernel; may be repeated'
complete -c kexecctl -n $stage -l append -x -d '--kernel: append to the command line'
complete -c kexecctl -n $stage -l command-line -x -d '--kernel: the whole command line'
complete -c kexecctl -n $stage -l reuse-cmdline -d "--kernel: the running system's command line"
complete -c kexecctl -n $stage -l crash -d 'Stage the crash kernel a panic starts'

# unstage
set -l unstage '__fish_seen_subcommand_from unstage'
complete -c kexecctl -n $unstage -l if-kernel -x -a '(command ls /lib/modules 2>/dev/null)' -d 'Only if the staged kernel is this version'
complete -c kexecctl -n $unstage -l crash -d 'Drop the crash kernel'

# reboot, soft-reboot
set -l reboot '__fish_seen_subcommand_from reboot'
set -l no_mode 'not __fish_contains_opt auto kexec soft cold'
complete -c kexecctl -n "$reboot; and $no_mode" -l auto -d 'Soft-reboot, kexec or reboot, as fits'
complete -c kexecctl -n "$reboot; and $no_mode" -l kexec -d 'Into the staged kernel'
complete -c kexecctl -n "$reboot; and $no_mode" -l soft -d 'Restart userspace only'
complete -c kexecctl -n "$reboot; and $no_mode" -l cold -d 'Through the firmware'
complete -c kexecctl -n "__fish_seen_subcommand_from reboot soft-reboot" -l dry-run -d 'Print the decision and its reasons; change nothing'
complete -c kexecctl -n $reboot -l require-staged -d '--auto: refuse when nothing is staged'
complete -c kexecctl -n "__fish_seen_subcommand_from reboot soft-reboot" -l ignore-inhibitors -d 'Despite block inhibitors'
complete -c kexecctl -n $reboot -l ignore-tpm -d 'Kexec although a TPM2-bound volume would not unlock'
complete -c kexecctl -n $reboot -l force -d 'Kexec immediately, without logind (root only)'

# inspect
set -l inspect '__fish_seen_subcommand_from inspect'
complete -c kexecctl -n $inspect -k -a '(__fish_complete_suffix .efi)'
complete -c kexecctl -n $inspect -l addon -r -k -a '(__fish_complete_suffix .efi)' -d 'UKI addon; may be repeated'
complete -c kexecctl -n $inspect -l profile -x -a '(__kexecctl_profiles)' -d 'UKI profile: number (@N) or ID'
complete -c kexecctl -n $inspect -l scheme -x -a 'auto bpf classic' -d 'bpf: also describe the image container'
complete -c kexecctl -n $inspect -l trust-dir -x -a '(__fish_complete_directories)' -d 'Certificates for the signature verdict'

# list
set -l list '__fish_seen_subcommand_from list'
complete -c kexecctl -n $list -l esp -x -a '(__fish_complete_directories)' -d 'EFI system partition'
complete -c kexecctl -n $list -l xbootldr -x -a '(__fish_complete_directories)' -d 'Extended boot loader partition'
