//! Finding keys in a snapshot of the account's node tree.
//!
//! MEGA lets two nodes in one folder share a name, and uploading a file under an
//! existing name adds a second node rather than replacing the first. Twins happen when
//! two writers race (here or in another process), so every lookup follows all folders
//! of a name, and a key whose file has twins reads as the newest of them.

use mega::{Node, Nodes};

/// The folders reached by following `names` from the Cloud Drive, twins included.
pub(crate) fn folders<'a>(nodes: &'a Nodes, names: &[String]) -> Vec<&'a Node> {
    let mut level: Vec<&Node> = nodes.cloud_drive().into_iter().collect();
    for name in names {
        level = level
            .iter()
            .flat_map(|folder| children(nodes, folder))
            .filter(|child| child.kind().is_folder() && child.name() == name)
            .collect();
        if level.is_empty() {
            break;
        }
    }
    level
}

/// The files called `name` directly inside any of `folders`.
pub(crate) fn files<'a>(nodes: &'a Nodes, folders: &[&'a Node], name: &str) -> Vec<&'a Node> {
    folders
        .iter()
        .flat_map(|folder| children(nodes, folder))
        .filter(|child| child.kind().is_file() && child.name() == name)
        .collect()
}

/// The node a reader sees among twins: the last created, ties broken by handle so
/// every reader picks the same one.
pub(crate) fn newest<'a>(files: &[&'a Node]) -> Option<&'a Node> {
    files
        .iter()
        .copied()
        .max_by(|a, b| (a.created_at(), a.handle()).cmp(&(b.created_at(), b.handle())))
}

/// Every file below `folders`, as (names below the root folder, node), twins included.
pub(crate) fn walk<'a>(nodes: &'a Nodes, folders: &[&'a Node]) -> Vec<(Vec<&'a str>, &'a Node)> {
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<&str>, &Node)> = folders.iter().map(|f| (Vec::new(), *f)).collect();
    while let Some((path, folder)) = stack.pop() {
        for child in children(nodes, folder) {
            let mut names = path.clone();
            names.push(child.name());
            if child.kind().is_folder() {
                stack.push((names, child));
            } else if child.kind().is_file() {
                out.push((names, child));
            }
        }
    }
    out
}

fn children<'a>(nodes: &'a Nodes, folder: &'a Node) -> impl Iterator<Item = &'a Node> + 'a {
    folder
        .children()
        .iter()
        .filter_map(|handle| nodes.get_node_by_handle(handle))
}
